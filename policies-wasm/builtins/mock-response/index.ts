// Built-in policy `mock-response` (APIM's mock-response): answers with a canned response instead of
// calling the backend. APIM takes the body from the API definition's examples; Portico has no API
// definitions yet, so the example is given as `body`. Parameters: status-code (default 200),
// content-type (default application/json), body (default empty).
import { answer } from "../return-response/answer";
export { portico_abi_version } from "@portico/sdk";

export function on_request(): i32 {
  answer("application/json");
  return 0;
}

export function on_response(): i32 {
  answer("application/json");
  return 0;
}
