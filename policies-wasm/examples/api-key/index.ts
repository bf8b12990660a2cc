// The api-key example policy with the AssemblyScript SDK (the worked example of
// docs/policy-authoring.md; api-key.c and api_key.rs are the same policy in C and Rust).
// Parameters: `keys` (comma-separated accepted keys) and `header` (default x-api-key). A request
// whose header holds a listed key goes on without that header and with `x-api-key-index: N` (the
// key's position, from 1); any other request is answered 401 and a warning is logged.
import { Config, constantTimeEquals, Log, Reply, Request } from "@portico/sdk";
export { portico_abi_version } from "@portico/sdk";

// Parameters are fixed for the life of an instance: read them once.
let loaded = false;
let header = "x-api-key";
let keys: string[] = [];

function load(): void {
  const name = Config.get("header");
  if (name !== null) header = name!;
  const list = Config.get("keys");
  if (list !== null) {
    const parts = list!.split(",");
    for (let i = 0; i < parts.length; i++) keys.push(parts[i].trim());
  }
  loaded = true;
}

export function on_request(): i32 {
  if (!loaded) load();
  const value = Request.header(header);
  let index = -1;
  if (value !== null && value!.length > 0) {
    // Keys are secrets: each is compared in constant time, and all of them (the first match wins),
    // so how long a refusal takes says nothing about how close a guess came.
    for (let i = keys.length - 1; i >= 0; i--) if (constantTimeEquals(value!, keys[i])) index = i;
  }
  if (index < 0) {
    Log.warn("rejected a request without a valid API key");
    Reply.header("content-type", "application/json");
    Reply.send(401, '{"error":"a valid API key is required"}');
    return 0;
  }
  Request.removeHeader(header);
  Request.setHeader("x-api-key-index", (index + 1).toString());
  return 0;
}
