/**
 * The cache-lookup step (inbound; APIM's cache-lookup): for a GET request (and, unless
 * `allow-private-response-caching`, one without an `Authorization` header) it makes the cache key
 * (key.ts) and reads the store its `caching-type` names. A hit answers the request from the entry
 * (the backend is not called and the chain ends, as any policy answer does) with an `Age` header
 * and the downstream Cache-Control (downstream.ts), or with 304 and no body when the client's
 * conditional headers match the entry (conditional.ts); a miss leaves the key on the exchange for
 * cache-store. A store that fails (an external one down or slow) is a miss, logged at most once a
 * minute per policy, never an error answer. Hits and misses are counted by store
 * (`portico.cache.lookups`).
 */
import type { PolicyExchange } from "../policy/abi.ts";
import type { ChainStep, FailureMode } from "../policy/chain.ts";
import type { HostPolicyContext } from "../policy/host.ts";
import type { KV } from "../state/kv.ts";
import { notModified, notModifiedHeaders } from "./conditional.ts";
import { Downstream } from "./downstream.ts";
import { decodeEntry } from "./entry.ts";
import { FailureLog } from "./failure-log.ts";
import { type KeyRules, responseKey } from "./key.ts";
import { defaultCacheStores, pickStore } from "./stores.ts";

/** Splits a newline-joined list parameter. */
function lines(value: string | undefined): string[] | undefined {
  return value ? value.split("\n") : undefined;
}

/** cache-lookup, compiled from its resolved parameters (see the file's comment). */
export class CacheLookupStep implements ChainStep {
  readonly body = undefined;
  readonly #kv: KV;
  readonly #rules: KeyRules;
  readonly #allowPrivate: boolean;
  readonly #downstream: Downstream;
  readonly #failures: FailureLog;

  constructor(
    readonly name: string,
    readonly failure: FailureMode,
    config: Readonly<Record<string, string>>,
    private readonly context: HostPolicyContext,
  ) {
    this.#kv = pickStore(context.cache ?? defaultCacheStores(), config["caching-type"], name);
    this.#rules = {
      headers: lines(config["vary-by-header"]) ?? [],
      query: lines(config["vary-by-query-parameter"]),
      byDeveloper: config["vary-by-developer"] === "true",
      byGroups: config["vary-by-developer-groups"] === "true",
    };
    this.#allowPrivate = config["allow-private-response-caching"] === "true";
    this.#downstream = new Downstream((config["downstream-caching-type"] ?? "none") as Downstream["type"], config["must-revalidate"] !== "false");
    this.#failures = new FailureLog(context, name);
  }

  /** The store this policy reads, for tests. */
  get kv(): KV {
    return this.#kv;
  }

  has(hook: string): boolean {
    return hook === "on_request";
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async call(_hook: string, exchange: PolicyExchange): Promise<void> {
    // APIM caches responses to GET only, and requests with credentials only when allowed.
    if (exchange.method !== "GET") return;
    if (!this.#allowPrivate && exchange.requestHeaders.has("authorization")) return;
    const key = responseKey(exchange, this.#rules);
    const kv = this.#kv;
    exchange.cache = { key, kv, downstream: this.#downstream };
    let bytes: Uint8Array | undefined;
    try {
      bytes = await kv.get(key);
    } catch (error) {
      this.#failures.failed(kv, "get", error);
    }
    const now = Date.now();
    const entry = bytes && decodeEntry(bytes);
    if (!entry || entry.expiresAt <= now) {
      this.context.metrics?.cacheLookup("miss", kv.kind);
      return;
    }
    this.context.metrics?.cacheLookup("hit", kv.kind);
    exchange.cache = undefined;
    const headers = new Headers();
    for (const [name, value] of entry.headers) headers.append(name, value);
    headers.set("age", String(Math.max(0, Math.floor((now - entry.storedAt) / 1000))));
    headers.set("cache-control", this.#downstream.cacheControl(entry.expiresAt, now));
    if (notModified(exchange.requestHeaders, entry.status, headers)) {
      exchange.reply = { status: 304, headers: notModifiedHeaders(headers), body: "" };
      return;
    }
    // Stores hand out bytes over plain ArrayBuffers (never shared memory).
    exchange.reply = { status: entry.status, headers, body: "", bytes: entry.body as Uint8Array<ArrayBuffer> };
  }
}
