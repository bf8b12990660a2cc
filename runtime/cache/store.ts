/**
 * The cache-store step (outbound; APIM's cache-store): stores the backend's response under the key
 * cache-lookup made for this request, for `duration` seconds or less when the backend's
 * Cache-Control says so (cache-control.ts). Stored: a 200 answer to a request cache-lookup missed,
 * without `Set-Cookie`, `Vary: *`, or a Cache-Control that keeps it out, whose body fits the entry
 * limit (`cache.entry.max-bytes`). A body is copied aside as it streams to the client (tee.ts) and
 * stored once it ended; a `Content-Length` over the limit is not copied at all, and a body without
 * one that grows past the limit streams on uncopied. A store that fails is passed over (logged at
 * most once a minute). Outcomes are counted (`portico.cache.stores`).
 */
import type { PolicyExchange } from "../policy/abi.ts";
import { upstreamBodyOf } from "../policy/body.ts";
import type { ChainStep, FailureMode } from "../policy/chain.ts";
import type { HostPolicyContext } from "../policy/host.ts";
import { storableMs } from "./cache-control.ts";
import { encodeEntry } from "./entry.ts";
import { FailureLog } from "./failure-log.ts";
import type { PendingStore } from "./pending.ts";
import { defaultCacheStores } from "./stores.ts";
import { teeWithin } from "./tee.ts";

/** What happened to a response cache-store saw: stored, or why not. */
export type StoreOutcome = "stored" | "not-cacheable" | "too-large" | "failed";

/** Response headers not kept in an entry: the framing is the gateway's, and an age is computed on a hit. */
const NOT_KEPT = new Set(["content-length", "transfer-encoding", "age", "cache-control"]);

/** cache-store, compiled from its resolved parameters (see the file's comment). */
export class CacheStoreStep implements ChainStep {
  readonly body = undefined;
  readonly #durationMs: number;
  readonly #maxEntryBytes: number;
  readonly #failures: FailureLog;

  constructor(
    readonly name: string,
    readonly failure: FailureMode,
    config: Readonly<Record<string, string>>,
    private readonly context: HostPolicyContext,
  ) {
    this.#durationMs = Number(config.duration) * 1000;
    this.#maxEntryBytes = (context.cache ?? defaultCacheStores()).maxEntryBytes;
    this.#failures = new FailureLog(context, name);
  }

  has(hook: string): boolean {
    return hook === "on_response";
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  call(_hook: string, exchange: PolicyExchange): Promise<void> {
    const pending = exchange.cache;
    const headers = exchange.responseHeaders;
    if (!pending || !headers) return Promise.resolve();
    exchange.cache = undefined;
    const ttlMs = exchange.status === 200 && !headers.has("set-cookie") && !varyAll(headers) ? storableMs(headers.get("cache-control"), this.#durationMs) : 0;
    if (ttlMs <= 0) return this.#count("not-cacheable");
    const declared = headers.get("content-length");
    const buffered = exchange.responseBody;
    if ((declared !== null && Number(declared) > this.#maxEntryBytes) || (buffered && buffered.byteLength > this.#maxEntryBytes)) {
      return this.#count("too-large");
    }
    const kept: [string, string][] = [];
    for (const [name, value] of headers) if (!NOT_KEPT.has(name)) kept.push([name, value]);
    // The client's Cache-Control for an answer that goes into the cache, as a hit's will be.
    const storedAt = Date.now();
    const expiresAt = storedAt + ttlMs;
    headers.set("cache-control", pending.downstream.cacheControl(expiresAt, storedAt));
    const store = (body: Uint8Array) => this.#store(pending, { status: 200, headers: kept, storedAt, expiresAt, body }, ttlMs);
    if (buffered) store(buffered);
    else if (upstreamBodyOf(exchange)) {
      const length = declared === null ? undefined : Number(declared);
      exchange.upstreamBody = teeWithin(exchange.upstreamBody!, this.#maxEntryBytes, length, store, () => void this.#count("too-large"));
    } else store(new Uint8Array(0));
    return Promise.resolve();
  }

  #store(pending: PendingStore, entry: Parameters<typeof encodeEntry>[0], ttlMs: number): void {
    pending.kv.set(pending.key, encodeEntry(entry), ttlMs).then(
      () => this.#count("stored"),
      (error) => {
        this.#failures.failed(pending.kv, "set", error);
        this.#count("failed");
      },
    );
  }

  #count(outcome: StoreOutcome): Promise<void> {
    this.context.metrics?.cacheStore(outcome);
    return Promise.resolve();
  }
}

/** Whether the response varies on everything (`Vary: *`): a shared cache never stores it. */
function varyAll(headers: Headers): boolean {
  const vary = headers.get("vary");
  return vary !== null && vary.split(",").some((v) => v.trim() === "*");
}
