// Built-in policy `cors` (APIM's cors): answers CORS preflight requests itself and adds the CORS
// headers to the responses of allowed cross-origin requests. Parameters: allowed-origins,
// allowed-methods, allowed-headers, expose-headers (newline-separated; "*" allows any),
// allow-credentials ("true"/"false"), preflight-result-max-age (seconds),
// terminate-unmatched-request ("true", the default: a preflight, GET or HEAD request from an
// origin or with a method or headers not allowed gets an empty 200 without CORS headers).
// Used in inbound, it also adds the headers to the response; used in outbound only, it adds them.
import { Config, Reply, Request, Response } from "@portico/sdk";
export { portico_abi_version } from "@portico/sdk";

let loaded = false;
let origins: string[] = [];
let anyOrigin = false;
let methods: string[] = [];
let anyMethod = false;
let headers: string[] = [];
let anyHeader = false;
let expose: string = "";
let credentials = false;
let maxAge: string | null = null;
let terminate = true;

function list(key: string): string[] {
  const text = Config.get(key);
  if (text === null || text!.length == 0) return new Array<string>(0);
  return text!.split("\n");
}

function load(): void {
  origins = list("allowed-origins");
  for (let i = 0; i < origins.length; i++) origins[i] = origins[i].toLowerCase();
  anyOrigin = origins.includes("*");
  methods = list("allowed-methods");
  if (methods.length == 0) {
    methods.push("GET");
    methods.push("POST");
  }
  for (let i = 0; i < methods.length; i++) methods[i] = methods[i].toUpperCase();
  anyMethod = methods.includes("*");
  headers = list("allowed-headers");
  for (let i = 0; i < headers.length; i++) headers[i] = headers[i].toLowerCase();
  anyHeader = headers.includes("*");
  expose = list("expose-headers").join(", ");
  const creds = Config.get("allow-credentials");
  credentials = creds !== null && creds! == "true";
  maxAge = Config.get("preflight-result-max-age");
  const term = Config.get("terminate-unmatched-request");
  terminate = term === null || term! != "false";
  loaded = true;
}

function originAllowed(origin: string): bool {
  return anyOrigin || origins.includes(origin.toLowerCase());
}

function headersAllowed(requested: string | null): bool {
  if (requested === null || anyHeader) return true;
  const names = requested!.split(",");
  for (let i = 0; i < names.length; i++) {
    const name = names[i].trim().toLowerCase();
    if (name.length > 0 && !headers.includes(name)) return false;
  }
  return true;
}

// With credentials the origin is echoed (a wildcard is not allowed with credentials by browsers).
function allowOrigin(origin: string): string {
  return anyOrigin && !credentials ? "*" : origin;
}

export function on_request(): i32 {
  if (!loaded) load();
  const origin = Request.header("origin");
  if (origin === null) return 0;
  const method = Request.method();
  const requested = method == "OPTIONS" ? Request.header("access-control-request-method") : null;
  if (requested !== null) {
    const wantHeaders = Request.header("access-control-request-headers");
    const ok = originAllowed(origin!) && (anyMethod || methods.includes(requested!.toUpperCase())) && headersAllowed(wantHeaders);
    if (!ok) {
      if (terminate) Reply.send(200, "");
      return 0;
    }
    Reply.header("access-control-allow-origin", allowOrigin(origin!));
    Reply.header("access-control-allow-methods", anyMethod ? requested! : methods.join(", "));
    if (wantHeaders !== null && wantHeaders!.length > 0) Reply.header("access-control-allow-headers", anyHeader ? wantHeaders! : headers.join(", "));
    if (credentials) Reply.header("access-control-allow-credentials", "true");
    if (maxAge !== null) Reply.header("access-control-max-age", maxAge!);
    Reply.header("vary", "Origin");
    Reply.send(200, "");
    return 0;
  }
  if (!originAllowed(origin!) || !(anyMethod || methods.includes(method) || method == "HEAD")) {
    if (terminate && (method == "GET" || method == "HEAD")) Reply.send(200, "");
    return 0;
  }
  // In on_request the response does not exist yet: the host applies these to it.
  addHeaders(origin!);
  return 0;
}

function addHeaders(origin: string): void {
  Response.setHeader("access-control-allow-origin", allowOrigin(origin));
  if (credentials) Response.setHeader("access-control-allow-credentials", "true");
  if (expose.length > 0) Response.setHeader("access-control-expose-headers", expose);
  Response.appendHeader("vary", "Origin");
}

export function on_response(): i32 {
  if (!loaded) load();
  const origin = Request.header("origin");
  if (origin === null || !originAllowed(origin!)) return 0;
  addHeaders(origin!);
  return 0;
}
