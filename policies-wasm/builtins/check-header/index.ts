// Built-in policy `check-header` (APIM's check-header): the request must carry a header, and, when
// values are given, one of them. Otherwise the client gets failed-check-httpcode with
// failed-check-error-message as problem+json. Parameters: name, failed-check-httpcode,
// failed-check-error-message, ignore-case ("true"/"false"), values (newline-separated).
import { Config, constantTimeEquals, problem, Request } from "@portico/sdk";
export { portico_abi_version } from "@portico/sdk";

let loaded = false;
let name: string = "";
let status: i32 = 400;
let message: string = "";
let ignoreCase = false;
let values: string[] = [];

function load(): void {
  const header = Config.get("name");
  if (header === null) unreachable();
  name = header!;
  const code = Config.get("failed-check-httpcode");
  if (code !== null) status = I32.parseInt(code!);
  const text = Config.get("failed-check-error-message");
  message = text !== null ? text! : "";
  const caseless = Config.get("ignore-case");
  ignoreCase = caseless !== null && caseless! == "true";
  const list = Config.get("values");
  if (list !== null && list!.length > 0) values = list!.split("\n");
  if (ignoreCase) for (let i = 0; i < values.length; i++) values[i] = values[i].toLowerCase();
  loaded = true;
}

function accepted(value: string): bool {
  if (values.length == 0) return true;
  // A header sent several times arrives joined by ", "; any one of its values may match. The listed
  // values may be secrets (API keys): each part is compared with every one of them in constant time,
  // without stopping at a match, so the time taken does not tell how close a guess came.
  const parts = value.split(",");
  let found = false;
  for (let i = 0; i < parts.length; i++) {
    let part = parts[i].trim();
    if (ignoreCase) part = part.toLowerCase();
    for (let j = 0; j < values.length; j++) {
      const same = constantTimeEquals(part, values[j]);
      found = found || same;
    }
  }
  return found;
}

export function on_request(): i32 {
  if (!loaded) load();
  const value = Request.header(name);
  if (value !== null && accepted(value!)) return 0;
  problem(status, "policy-rejected", "A policy rejected the request", message);
  return 0;
}
