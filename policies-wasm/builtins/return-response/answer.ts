// The answer shared by return-response and mock-response: status-code, content-type and body, read
// once from the configuration, sent instead of the backend's response.
import { Config, Reply } from "@portico/sdk";

let loaded = false;
let status: i32 = 200;
let contentType: string | null = null;
let body: string = "";

/** Sends the configured answer; `defaultContentType` applies when the configuration names none (null: no header). */
export function answer(defaultContentType: string | null): void {
  if (!loaded) {
    const code = Config.get("status-code");
    if (code !== null) status = I32.parseInt(code!);
    const type = Config.get("content-type");
    contentType = type !== null ? type : defaultContentType;
    const text = Config.get("body");
    if (text !== null) body = text!;
    loaded = true;
  }
  if (contentType !== null && contentType!.length > 0) Reply.header("content-type", contentType!);
  Reply.send(status, body);
}
