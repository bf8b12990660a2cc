// Built-in policy `rate-limit-by-key` (APIM's rate-limit-by-key): at most `calls` requests per
// `renewal-period` seconds for each value of `counter-key` (a template such as `{request.ip}`);
// more get 429 problem+json with Retry-After. Parameters: calls, renewal-period, counter-key,
// increment-count, and the header and variable names of rate-limit.
import { countByKey } from "../rate-limit/limit";
export { portico_abi_version } from "@portico/sdk";

export function on_request(): i32 {
  countByKey("key:", 429, false);
  return 0;
}
