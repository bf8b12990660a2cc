// Built-in policy `rewrite-uri` (APIM's rewrite-uri): replaces the path (after the backend's base
// URL) and optionally the query of the request to the backend with a template such as
// `/v2/items/{id}?source={request.query.src}`. Values pulled into the path are percent-encoded as
// path text (a `/` stays), values in the query as query components. Parameters: template,
// copy-unmatched-params ("true", the default: query parameters of the request that the template
// does not name are kept).
import { Config, Request, Template, problem } from "@portico/sdk";
export { portico_abi_version } from "@portico/sdk";

let loaded = false;
let path: Template | null = null;
let names: string[] = [];
let values: Template[] = [];
let hasQuery = false;
let copyUnmatched = true;

function load(): void {
  const source = Config.get("template");
  if (source === null) unreachable();
  const text = source!;
  const mark = text.indexOf("?");
  path = new Template(mark < 0 ? text : text.substring(0, mark));
  if (mark >= 0) {
    hasQuery = true;
    const pairs = text.substring(mark + 1).split("&");
    for (let i = 0; i < pairs.length; i++) {
      if (pairs[i].length == 0) continue;
      const eq = pairs[i].indexOf("=");
      names.push(eq < 0 ? pairs[i] : pairs[i].substring(0, eq));
      values.push(new Template(eq < 0 ? "" : pairs[i].substring(eq + 1)));
    }
  }
  const copy = Config.get("copy-unmatched-params");
  copyUnmatched = copy === null || copy! != "false";
  loaded = true;
}

function hasDotSegment(p: string): bool {
  const segments = p.split("/");
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i].toLowerCase().replaceAll("%2e", ".");
    if (s == "." || s == "..") return true;
  }
  return false;
}

export function on_request(): i32 {
  if (!loaded) load();
  let target = path!.render(2);
  if (!target.startsWith("/")) target = "/" + target;
  if (hasDotSegment(target)) {
    problem(400, "bad-request", "Bad request", "The request maps to a backend path with a dot segment.");
    return 0;
  }
  Request.setPath(target);
  if (!hasQuery && copyUnmatched) return 0;
  let query = "";
  for (let i = 0; i < names.length; i++) {
    if (query.length > 0) query += "&";
    query += names[i] + "=" + values[i].render(1);
  }
  if (copyUnmatched) {
    const original = Request.queryString();
    if (original.length > 0) {
      const pairs = original.split("&");
      for (let i = 0; i < pairs.length; i++) {
        const eq = pairs[i].indexOf("=");
        const key = eq < 0 ? pairs[i] : pairs[i].substring(0, eq);
        if (key.length == 0 || names.includes(key)) continue;
        if (query.length > 0) query += "&";
        query += pairs[i];
      }
    }
  }
  Request.setQueryString(query);
  return 0;
}
