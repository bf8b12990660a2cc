/**
 * What cache-lookup leaves on an exchange it missed (`PolicyExchange.cache`) for cache-store: the
 * key, the store, and the Cache-Control the client is to get. A request cache-lookup did not look
 * up (not GET, or an `Authorization` header without `allow-private-response-caching`) has none, and
 * cache-store then stores nothing, as in APIM.
 */
import type { KV } from "../state/kv.ts";
import type { Downstream } from "./downstream.ts";

/** A response cache-lookup looked up and did not find (see the file's comment). */
export interface PendingStore {
  readonly key: string;
  readonly kv: KV;
  /** The client's Cache-Control for a response from the cache (`downstream-caching-type`, `must-revalidate`). */
  readonly downstream: Downstream;
}
