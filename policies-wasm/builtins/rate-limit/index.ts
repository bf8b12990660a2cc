// Built-in policy `rate-limit` (APIM's rate-limit): at most `calls` requests per `renewal-period`
// seconds per subscription and API (the subscription of the request's key, ABI 1.4); a call
// without a subscription counts for its API, shared by every anonymous caller. More get 429
// problem+json with Retry-After. Parameters: calls, renewal-period, retry-after-header-name,
// retry-after-variable-name, remaining-calls-header-name, remaining-calls-variable-name,
// total-calls-header-name.
import { Request, Subscription } from "@portico/sdk";
import { Limit } from "./limit";
export { portico_abi_version } from "@portico/sdk";

let limit: Limit | null = null;

export function on_request(): i32 {
  if (limit === null) limit = new Limit();
  // The API stays in the key: a subscription's counter is per API, as APIM's rate-limit at API scope.
  const subscription = Subscription.id();
  const api = "api:" + Request.api();
  limit!.count(subscription === null ? api : "sub:" + subscription! + "|" + api, 429, false);
  return 0;
}
