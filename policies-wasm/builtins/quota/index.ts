// Built-in policy `quota` (APIM's quota): at most `calls` calls and `bandwidth` KiB of request and
// response bodies per `renewal-period` seconds per subscription (ABI 1.4), across every API the
// policy runs on; a call without a subscription counts for its API, shared by every anonymous
// caller. Past either, 403 problem+json with Retry-After. Parameters: calls, bandwidth (at least
// one), renewal-period.
import { Quota, caller } from "../rate-limit/limit";
export { portico_abi_version } from "@portico/sdk";

let quota: Quota | null = null;

export function on_request(): i32 {
  if (quota === null) quota = new Quota();
  quota!.count(caller());
  return 0;
}
