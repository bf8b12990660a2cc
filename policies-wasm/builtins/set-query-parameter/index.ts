// Built-in policy `set-query-parameter` (APIM's set-query-parameter): sets, appends, skips or
// deletes one query parameter of the request to the backend. Parameters: name, exists-action
// (override, the default; skip; append; delete), value (one or more templates, newline-separated).
import { Config, Request, Template } from "@portico/sdk";
export { portico_abi_version } from "@portico/sdk";

let loaded = false;
let name: string = "";
let action: string = "override";
let values: Template[] = [];

function load(): void {
  const key = Config.get("name");
  if (key === null) unreachable();
  name = key!;
  const how = Config.get("exists-action");
  if (how !== null) action = how!;
  const list = Config.get("value");
  if (list !== null) {
    const parts = list!.split("\n");
    for (let i = 0; i < parts.length; i++) values.push(new Template(parts[i]));
  }
  loaded = true;
}

export function on_request(): i32 {
  if (!loaded) load();
  if (action == "delete") {
    Request.removeQuery(name);
    return 0;
  }
  if (values.length == 0) return 0;
  if (action == "skip" || action == "append") {
    const present = Request.query(name) !== null;
    if (present && action == "skip") return 0;
    if (present) {
      for (let i = 0; i < values.length; i++) Request.appendQuery(name, values[i].render());
      return 0;
    }
  }
  Request.setQuery(name, values[0].render());
  for (let i = 1; i < values.length; i++) Request.appendQuery(name, values[i].render());
  return 0;
}
