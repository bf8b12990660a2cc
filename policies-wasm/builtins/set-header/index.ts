// Built-in policy `set-header` (APIM's set-header): sets, appends, skips or deletes one header on
// the request (inbound) or the response (outbound). Parameters: name, value, exists-action
// (override, the default; skip; append; delete).
import { Config, Request, Response } from "@portico/sdk";
export { portico_abi_version } from "@portico/sdk";

// Parameters never change for an instance: read them once, on the first call.
let loaded = false;
let name: string | null = null;
let value: string | null = null;
let action: string | null = null;

function apply(onResponse: bool): void {
  if (!loaded) {
    name = Config.get("name");
    if (name === null) unreachable();
    value = Config.get("value");
    action = Config.get("exists-action");
    loaded = true;
  }
  // Only skip and append need to know whether the header is there.
  let existing: string | null = null;
  if (action == "skip" || action == "append") existing = onResponse ? Response.header(name!) : Request.header(name!);
  if (action == "delete") {
    if (onResponse) Response.removeHeader(name!);
    else Request.removeHeader(name!);
    return;
  }
  if (value === null) return;
  if (action == "skip" && existing !== null) return;
  if (action == "append" && existing !== null) {
    if (onResponse) Response.appendHeader(name!, value!);
    else Request.appendHeader(name!, value!);
    return;
  }
  if (onResponse) Response.setHeader(name!, value!);
  else Request.setHeader(name!, value!);
}

export function on_request(): i32 {
  apply(false);
  return 0;
}

export function on_response(): i32 {
  apply(true);
  return 0;
}

/** In the on-error section: the header goes on the gateway's error answer. */
export function on_error(): i32 {
  apply(true);
  return 0;
}
