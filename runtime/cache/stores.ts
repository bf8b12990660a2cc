/**
 * The stores the cache policies keep their entries in, as the gateway hands them over through the
 * host policy context (`HostPolicyContext.cache`, runtime/policy/host.ts): the internal one (this
 * process, runtime/cache/memory-kv.ts) and, when the gateway has one configured, an external one
 * (any KV; Redis through runtime/state/). Which one a policy uses is its `caching-type`, decided
 * once when the policy is compiled: `external` without an external store stops the configuration.
 */
import type { KV } from "../state/kv.ts";
import { MemoryKV } from "./memory-kv.ts";

/** What the cache policies are given: the stores and the per-entry limit. */
export interface CacheStores {
  /** The in-process store; one per process, so entries survive configuration reloads. */
  readonly internal: KV;
  /** The external store (Redis), when the gateway has one configured. */
  readonly external?: KV;
  /** Largest entry either store takes, in bytes (`cache.entry.max-bytes`): a larger response passes through unstored. */
  readonly maxEntryBytes: number;
}

/** Defaults of the settings (config/schema/settings.ts): 64 MiB in process, 1 MiB per entry. */
export const DEFAULT_INTERNAL_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_ENTRY_BYTES = 1024 * 1024;

let fallback: CacheStores | undefined;

/**
 * The stores for a context that brings none (tests and tools that compile pipelines without a
 * gateway): one internal store with the default sizes, made on first use and kept for the process.
 */
export function defaultCacheStores(): CacheStores {
  return (fallback ??= { internal: new MemoryKV(DEFAULT_INTERNAL_MAX_BYTES), maxEntryBytes: DEFAULT_MAX_ENTRY_BYTES });
}

/** The store a `caching-type` names; throws (the configuration does not go live) for `external` without one. */
export function pickStore(stores: CacheStores, cachingType: string | undefined, policy: string): KV {
  switch (cachingType ?? "prefer-external") {
    case "internal":
      return stores.internal;
    case "external":
      if (!stores.external) {
        throw new Error(
          `policy "${policy}" has caching-type: external, but this gateway has no external cache configured (cache.redis.url); use internal or prefer-external, or configure one`,
        );
      }
      return stores.external;
    default:
      return stores.external ?? stores.internal;
  }
}
