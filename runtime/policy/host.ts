/**
 * Built-in policies the gateway runs itself instead of in the WebAssembly sandbox, because their
 * work is cryptography and network I/O (validate-jwt: signatures and claims with jose, JWKS fetches).
 * The cache policies (runtime/cache/) are host steps too: they await a store and stream bodies; so
 * are retry and forward-request, which leave instructions for the proxy's backend call.
 * They are chain steps like the others (ChainStep), compiled from the snapshot's `host` module
 * references by Pipeline.compile.
 */
import type { HostPolicyName } from "../../config/snapshot/build.ts";
import { CacheLookupStep } from "../cache/lookup.ts";
import { type CacheStores } from "../cache/stores.ts";
import { CacheStoreStep, type StoreOutcome } from "../cache/store.ts";
import { CacheLookupValueStep, CacheRemoveValueStep, CacheStoreValueStep } from "../cache/values.ts";
import type { Logger } from "../observability/log.ts";
import type { ChainStep, FailureMode } from "./chain.ts";
import type { FetchFailure } from "./jwt/jwks.ts";
import { RetryStep } from "./retry.ts";
import { ForwardRequestStep } from "./forward-request.ts";
import type { Refusal } from "./jwt/verify.ts";

/** Where host policies' counters go (the gateway's metrics). */
export interface HostPolicyMetrics {
  /** A token validate-jwt refused, by reason. */
  jwtRefused(reason: Refusal): void;
  /** A failed fetch of an OpenID configuration or JWKS, by reason. */
  jwtKeysFetchFailed(reason: FetchFailure): void;
  /** A cache-lookup that found an entry (hit) or not (miss, a failing store included), by store. */
  cacheLookup(result: "hit" | "miss", store: "internal" | "external"): void;
  /** What cache-store did with a response. */
  cacheStore(outcome: StoreOutcome): void;
  /** A backend call the retry policy made again, by backend. */
  backendRetried?(backend: string): void;
}

/** A fetch for the gateway's own calls (the runtime adapter's `createFetch`, or the global one). */
export type HostFetch = (url: string, init: RequestInit) => Promise<Response>;

/** What host policies need from the gateway: a fetch for their own calls, the log, the counters, the cache stores. */
export interface HostPolicyContext {
  readonly fetch: HostFetch;
  readonly logger?: Logger;
  readonly metrics?: HostPolicyMetrics;
  /**
   * The stores of the cache policies: the gateway's internal one (one per process, so entries survive
   * reloads) and its external one when configured (the injection point for Redis). Without it, a
   * process-wide internal store with the default sizes (runtime/cache/stores.ts).
   */
  readonly cache?: CacheStores;
}

/** A context for tests and tools: the global fetch, no log, no counters. */
export const DEFAULT_HOST_CONTEXT: HostPolicyContext = { fetch: (url, init) => globalThis.fetch(url, init) };

/** Makes the step of a host built-in; remote work (key fetches) starts now, without being awaited. */
export function createHostStep(
  name: HostPolicyName,
  policy: string,
  failure: FailureMode,
  config: Readonly<Record<string, string>>,
  context: HostPolicyContext,
): Promise<ChainStep> {
  switch (name) {
    case "validate-jwt":
      // Loaded on first use: jose is about 8 MB of an idle gateway's memory that needs no JWT.
      return import("./jwt/step.ts").then(({ JwtStep }) => new JwtStep(policy, failure, config, context).start());
    case "cache-lookup":
      return Promise.resolve(new CacheLookupStep(policy, failure, config, context));
    case "cache-store":
      return Promise.resolve(new CacheStoreStep(policy, failure, config, context));
    case "cache-lookup-value":
      return Promise.resolve(new CacheLookupValueStep(policy, failure, config, context));
    case "cache-store-value":
      return Promise.resolve(new CacheStoreValueStep(policy, failure, config, context));
    case "cache-remove-value":
      return Promise.resolve(new CacheRemoveValueStep(policy, failure, config, context));
    case "retry":
      return Promise.resolve(new RetryStep(policy, failure, config, context));
    case "forward-request":
      return Promise.resolve(new ForwardRequestStep(policy, failure, config));
  }
}
