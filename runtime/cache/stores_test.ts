import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PolicyExchange } from "../policy/abi.ts";
import type { HostPolicyContext, HostPolicyMetrics } from "../policy/host.ts";
import type { KV } from "../state/kv.ts";
import type { Logger } from "../observability/log.ts";
import { CacheLookupStep } from "./lookup.ts";
import { MemoryKV } from "./memory-kv.ts";
import { CacheStoreStep } from "./store.ts";
import { pickStore } from "./stores.ts";
import { CacheLookupValueStep, CacheStoreValueStep } from "./values.ts";

/** A KV standing in for Redis: a Map, or one that fails every call (down, or slower than its timeout). */
class ExternalKV implements KV {
  readonly kind = "external" as const;
  readonly map = new Map<string, Uint8Array>();
  constructor(private readonly down = false) {}
  get(key: string) {
    return this.down ? Promise.reject(new Error("connection refused")) : Promise.resolve(this.map.get(key));
  }
  set(key: string, value: Uint8Array) {
    if (this.down) return Promise.reject(new Error("connection refused"));
    this.map.set(key, value);
    return Promise.resolve();
  }
  delete(key: string) {
    this.map.delete(key);
    return Promise.resolve();
  }
}

/** What the steps reported: counters and warnings. */
function reporting() {
  const counted: string[] = [];
  const warnings: string[] = [];
  const metrics = {
    jwtRefused: () => {},
    jwtKeysFetchFailed: () => {},
    cacheLookup: (result: string, store: string) => counted.push(`${result} ${store}`),
    cacheStore: (outcome: string) => counted.push(outcome),
  } as HostPolicyMetrics;
  const noop = () => {};
  const logger: Logger = { format: "json", debug: noop, info: noop, warn: (message) => warnings.push(message), error: noop, access: noop };
  return { counted, warnings, metrics, logger };
}

const LOOKUP = { "vary-by-developer": "false", "vary-by-developer-groups": "false", "caching-type": "prefer-external" };

function request(): PolicyExchange {
  return { method: "GET", path: "/a/x", requestHeaders: new Headers(), responseHeaders: undefined, api: "a", search: "" };
}

/** Runs a miss through cache-lookup and cache-store with a small response; resolves once the store was written (or failed). */
async function missAndStore(lookup: CacheLookupStep, store: CacheStoreStep): Promise<PolicyExchange> {
  const exchange = request();
  await lookup.call("on_request", exchange);
  assert.equal(exchange.reply, undefined, "a miss");
  exchange.status = 200;
  exchange.responseHeaders = new Headers({ "content-type": "text/plain", "content-length": "2" });
  exchange.responseBody = new TextEncoder().encode("ok");
  await store.call("on_response", exchange);
  await new Promise((resolve) => setTimeout(resolve, 0));
  return exchange;
}

describe("the cache stores a policy uses", () => {
  it("caching-type picks the store: internal, external, or external when there is one (prefer-external)", () => {
    const internal = new MemoryKV(1024 * 1024);
    const external = new ExternalKV();
    const withExternal = { internal, external, maxEntryBytes: 1024 };
    const without = { internal, maxEntryBytes: 1024 };
    assert.equal(pickStore(withExternal, "internal", "p"), internal);
    assert.equal(pickStore(withExternal, "external", "p"), external);
    assert.equal(pickStore(withExternal, "prefer-external", "p"), external);
    assert.equal(pickStore(without, "prefer-external", "p"), internal, "prefer-external falls back to internal");
    assert.throws(() => pickStore(without, "external", "p"), /policy "p" has caching-type: external, but this gateway has no external cache configured/);
  });

  it("keeps responses in an injected external store and answers from it", async () => {
    const external = new ExternalKV();
    const { counted, metrics } = reporting();
    const context: HostPolicyContext = { fetch: globalThis.fetch, metrics, cache: { internal: new MemoryKV(1024 * 1024), external, maxEntryBytes: 1024 } };
    const lookup = new CacheLookupStep("cache-lookup", "closed", LOOKUP, context);
    await missAndStore(lookup, new CacheStoreStep("cache-store", "closed", { duration: "60" }, context));
    assert.equal(external.map.size, 1, "stored in the external store");
    const again = request();
    await lookup.call("on_request", again);
    assert.equal(again.reply?.status, 200);
    assert.equal(new TextDecoder().decode(again.reply?.bytes), "ok");
    assert.deepEqual(counted, ["miss external", "stored", "hit external"]);
  });

  it("takes a failing external store as a miss (never an error), logs it once, and passes the response on unstored", async () => {
    const { counted, warnings, metrics, logger } = reporting();
    const context: HostPolicyContext = {
      fetch: globalThis.fetch,
      metrics,
      logger,
      cache: { internal: new MemoryKV(1024 * 1024), external: new ExternalKV(true), maxEntryBytes: 1024 },
    };
    const lookup = new CacheLookupStep("cache-lookup", "closed", LOOKUP, context);
    const store = new CacheStoreStep("cache-store", "closed", { duration: "60" }, context);
    const first = await missAndStore(lookup, store);
    assert.equal(first.responseHeaders?.get("content-type"), "text/plain", "the response goes on");
    await missAndStore(lookup, store);
    assert.deepEqual(counted, ["miss external", "failed", "miss external", "failed"]);
    assert.equal(warnings.length, 2, "one line for the failing reads and one for the failing writes, not one per request");
  });

  it("value policies: a failing external store reads as the default value and a store is passed over; a value over the entry limit fails the policy", async () => {
    const { warnings, logger } = reporting();
    const down: HostPolicyContext = {
      fetch: globalThis.fetch,
      logger,
      cache: { internal: new MemoryKV(1024 * 1024), external: new ExternalKV(true), maxEntryBytes: 8 },
    };
    const exchange = request();
    await new CacheStoreValueStep("cache-store-value", "closed", { key: "k", value: "v", duration: "60" }, down).call("on_request", exchange);
    await new CacheLookupValueStep("cache-lookup-value", "closed", { key: "k", "variable-name": "x", "default-value": "d" }, down).call("on_request", exchange);
    assert.equal(exchange.variables?.get("x"), "d");
    assert.equal(warnings.length, 2);
    const tooLarge = new CacheStoreValueStep("cache-store-value", "closed", { key: "k", value: "123456789", duration: "60", "caching-type": "internal" }, down);
    await assert.rejects(tooLarge.call("on_request", exchange), /the value is 9 bytes; cache.entry.max-bytes allows 8/);
  });
});
