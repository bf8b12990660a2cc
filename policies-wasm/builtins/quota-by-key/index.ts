// Built-in policy `quota-by-key` (APIM's quota-by-key): at most `calls` requests per
// `renewal-period` seconds for each value of `counter-key`; more get 403 problem+json (as APIM
// answers) with Retry-After. The period starts with the first counted call. Parameters: calls,
// renewal-period, counter-key, increment-count.
import { Config, Template } from "@portico/sdk";
import { Limit } from "../rate-limit/limit";
export { portico_abi_version } from "@portico/sdk";

let limit: Limit | null = null;
let key: Template | null = null;

export function on_request(): i32 {
  if (limit === null) {
    const source = Config.get("counter-key");
    if (source === null) unreachable();
    key = new Template(source!);
    limit = new Limit();
  }
  limit!.count("quota:" + key!.render(), 403, true);
  return 0;
}
