// Built-in policy `quota-by-key` (APIM's quota-by-key): at most `calls` requests per
// `renewal-period` seconds for each value of `counter-key`; more get 403 problem+json (as APIM
// answers) with Retry-After. The period starts with the first counted call. Parameters: calls,
// renewal-period, counter-key, increment-count.
import { countByKey } from "../rate-limit/limit";
export { portico_abi_version } from "@portico/sdk";

export function on_request(): i32 {
  countByKey("quota:", 403, true);
  return 0;
}
