/**
 * The KV interface (kv.ts) over Redis: what the response cache's `external` mode and the
 * `cache-*-value` policies store when `cache.redis.*` names a Redis. Keys get the gateway's
 * `cache.redis.key-prefix` and `kv:`, so they never meet the shared counters' keys; values are
 * bytes, stored as they are, with a millisecond expiry. Every call is bounded by
 * `cache.redis.timeout` and rejects (RedisUnavailable) while Redis is down, as KV allows.
 */
import type { KV } from "./kv.ts";
import type { RedisConnection } from "./redis.ts";

/** The KV store of the gateway's Redis connection. */
export function redisKV(redis: RedisConnection): KV {
  const prefix = `${redis.options.prefix}kv:`;
  return {
    kind: "external",
    async get(key) {
      const id = prefix + key;
      const value = await redis.call(id, ["GET", id], true);
      return value === null || value === undefined ? undefined : new Uint8Array(value as Uint8Array);
    },
    async set(key, value, ttlMs) {
      const id = prefix + key;
      if (ttlMs <= 0) await redis.call(id, ["DEL", id]);
      else await redis.call(id, ["SET", id, value, "PX", String(Math.ceil(ttlMs))]);
    },
    async delete(key) {
      const id = prefix + key;
      await redis.call(id, ["DEL", id]);
    },
  };
}
