// Built-in policy `rate-limit` (APIM's rate-limit): at most `calls` requests per `renewal-period`
// seconds through this API; more get 429 problem+json with Retry-After. APIM counts per
// subscription; until Portico has subscriptions the counter is per API. Parameters: calls,
// renewal-period, retry-after-header-name, retry-after-variable-name, remaining-calls-header-name,
// remaining-calls-variable-name, total-calls-header-name.
import { Request } from "@portico/sdk";
import { Limit } from "./limit";
export { portico_abi_version } from "@portico/sdk";

let limit: Limit | null = null;

export function on_request(): i32 {
  if (limit === null) limit = new Limit();
  limit!.count("api:" + Request.api(), 429, false);
  return 0;
}
