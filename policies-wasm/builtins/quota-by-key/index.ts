// Built-in policy `quota-by-key` (APIM's quota-by-key): at most `calls` calls and `bandwidth` KiB of
// request and response bodies per `renewal-period` seconds for each value of `counter-key` (either
// or both); more get 403 problem+json (as APIM answers) with Retry-After. The period starts with
// the first counted call. Parameters: calls, bandwidth, renewal-period, counter-key, increment-count.
import { quotaByKey } from "../rate-limit/limit";
export { portico_abi_version } from "@portico/sdk";

export function on_request(): i32 {
  quotaByKey("quota:");
  return 0;
}
