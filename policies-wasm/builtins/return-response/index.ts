// Built-in policy `return-response` (after APIM's return-response): ends the request with a
// response of its own; the backend is not called. Parameters: status-code (default 200),
// content-type, body (default empty).
import { answer } from "./answer";
export { portico_abi_version } from "@portico/sdk";

export function on_request(): i32 {
  answer(null);
  return 0;
}

export function on_response(): i32 {
  answer(null);
  return 0;
}

/** In the on-error section: this answer replaces the gateway's error answer. */
export function on_error(): i32 {
  answer(null);
  return 0;
}
