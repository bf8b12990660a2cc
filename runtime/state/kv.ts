/**
 * The key-value store that shared gateway state goes through: the response cache's entries and
 * the values of `cache-store-value` (runtime/cache), kept either in the gateway process or in
 * Redis (runtime/state/redis.ts). One small interface so that a faster client can be added later
 * without touching the policies that use it.
 *
 * Every method may reject (a remote store that is down or slower than its timeout); callers decide
 * what a failure means for the request (a cache lookup that fails is a miss, never a 5xx).
 */
export interface KV {
  /** Where the entries live: `internal` (this process) or `external` (Redis), for logs and metrics. */
  readonly kind: "internal" | "external";
  /** The value stored under `key`, or undefined when absent or expired. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Stores `value` under `key` for `ttlMs` milliseconds (0 or less removes it). */
  set(key: string, value: Uint8Array, ttlMs: number): Promise<void>;
  /** Removes `key` (nothing happens when it is absent). */
  delete(key: string): Promise<void>;
}
