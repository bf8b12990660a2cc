// Built-in policy `limit-concurrency` (APIM's limit-concurrency): at most max-count requests with
// the same key are in flight at once; others get 429 problem+json. A slot is taken when the policy
// runs and given back by the host when the response is ready (its headers), or when the request fails.
// Parameters: key (template, such as `{request.ip}`), max-count.
import { Concurrency, Config, Template, problem } from "@portico/sdk";
export { portico_abi_version } from "@portico/sdk";

let loaded = false;
let key: Template | null = null;
let max: i32 = 1;

export function on_request(): i32 {
  if (!loaded) {
    const source = Config.get("key");
    if (source === null) unreachable();
    key = new Template(source!);
    const count = Config.get("max-count");
    if (count === null) unreachable();
    max = I32.parseInt(count!);
    loaded = true;
  }
  // The limit is part of the key, so uses with different limits never share slots.
  if (!Concurrency.acquire(max.toString() + ":" + key!.render(), max)) {
    problem(429, "concurrency-limited", "Too many concurrent requests", "Too many requests are in progress; try again later.");
  }
  return 0;
}
