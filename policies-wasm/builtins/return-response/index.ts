// Built-in policy `return-response` (after APIM's return-response): ends the request with a
// response of its own; the backend is not called. Parameters: status-code (default 200),
// content-type, body (default empty).
import { Config, Reply } from "@portico/sdk";
export { portico_abi_version } from "@portico/sdk";

let loaded = false;
let status: i32 = 200;
let contentType: string | null = null;
let body: string = "";

function answer(): void {
  if (!loaded) {
    const code = Config.get("status-code");
    if (code !== null) status = I32.parseInt(code!);
    contentType = Config.get("content-type");
    const text = Config.get("body");
    if (text !== null) body = text!;
    loaded = true;
  }
  if (contentType !== null) Reply.header("content-type", contentType!);
  Reply.send(status, body);
}

export function on_request(): i32 {
  answer();
  return 0;
}

export function on_response(): i32 {
  answer();
  return 0;
}

/** In the on-error section: this answer replaces the gateway's error answer. */
export function on_error(): i32 {
  answer();
  return 0;
}
