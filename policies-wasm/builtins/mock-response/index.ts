// Built-in policy `mock-response` (APIM's mock-response): answers with a canned response instead of
// calling the backend. APIM takes the body from the API definition's examples; Portico has no API
// definitions yet, so the example is given as `body`. Parameters: status-code (default 200),
// content-type (default application/json), body (default empty).
import { Config, Reply } from "@portico/sdk";
export { portico_abi_version } from "@portico/sdk";

let loaded = false;
let status: i32 = 200;
let contentType: string = "application/json";
let body: string = "";

function answer(): void {
  if (!loaded) {
    const code = Config.get("status-code");
    if (code !== null) status = I32.parseInt(code!);
    const type = Config.get("content-type");
    if (type !== null) contentType = type!;
    const text = Config.get("body");
    if (text !== null) body = text!;
    loaded = true;
  }
  if (contentType.length > 0) Reply.header("content-type", contentType);
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
