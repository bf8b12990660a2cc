/**
 * Opens the gateway's shared state on Redis (docs/shared-state.md): the connection, the shared
 * counters and the KV store of the external cache. The gateway imports this module only when the
 * settings name a Redis (`cache.redis.*`), so a gateway without Redis never loads the Redis client,
 * which alone adds about 35 MB to the resident memory of an idle Bun process (measured with
 * `bun -e 'await import("redis")'` against an empty script; bench/RESULTS.md).
 */
import type { Settings } from "../../config/schema/settings.ts";
import type { Logger } from "../observability/log.ts";
import type { KV } from "./kv.ts";
import { RedisConnection, redisOptions } from "./redis.ts";
import { redisKV } from "./redis-kv.ts";
import { SharedCounters } from "./shared-counters.ts";

/** The gateway's Redis connection, with what is built on it. */
export interface SharedState {
  /** The connection (it connects in the background; requests never wait for it). */
  readonly redis: RedisConnection;
  /** The counters and slots of the rate-limits, quotas and limit-concurrency. */
  readonly counters: SharedCounters;
  /** The KV store of the external response and value caches. */
  readonly kv: KV;
}

/**
 * Connects to the Redis the settings name, in the background. Throws an Error naming the setting
 * when the settings cannot be used (a password file that cannot be read).
 */
export async function openSharedState(settings: Settings, logger: Logger): Promise<SharedState | undefined> {
  const options = redisOptions(settings);
  if (!options) return undefined;
  const redis = RedisConnection.open(options, logger);
  return { redis, counters: await SharedCounters.create(redis), kv: redisKV(redis) };
}
