/**
 * Per-call cost of built-in policies, in process, on the runtime that runs it:
 * `bun bench/builtin-calls.ts [NAME ...]`, `deno run -A bench/builtin-calls.ts`, `node --import tsx bench/builtin-calls.ts`
 * (names given: only those built-ins).
 * Each policy runs `on_request` on a fresh small exchange (what the proxy builds per request);
 * prints the median of 9 batches of 20,000 calls after 3 discarded warm-up batches (the JIT tiers the
 * host functions up over the first tens of thousands of calls), in microseconds. Needs `npm run build:policies`.
 */
import { builtinPolicyConfig, type BuiltinPolicyName } from "../config/schema/policies.ts";
import type { PolicyExchange } from "../runtime/policy/abi.ts";
import { builtinModuleBytes } from "../runtime/policy/builtins.ts";
import { PolicyModuleCache, PolicyPlugin } from "../runtime/policy/extism.ts";
import { MemoryStateStore } from "../runtime/policy/state.ts";
import { detectRuntime } from "../runtime/server/detect.ts";

const BATCH = 20_000;
const BATCHES = 9;
const WARMUP_BATCHES = 3;

const CASES: [BuiltinPolicyName, unknown][] = [
  ["set-header", { name: "x-tenant", value: "acme" }],
  ["set-query-parameter", { name: "api-version", value: "2024-01-01" }],
  ["rewrite-uri", { template: "/v2/items/{id}" }],
  ["ip-filter", { action: "allow", address: ["10.0.0.0/8", "2001:db8::/32"] }],
  ["cors", { "allowed-origins": ["https://app.example.com"] }],
  ["rate-limit-by-key", { calls: 1_000_000_000, "renewal-period": 60, "counter-key": "{request.ip}" }],
  ["limit-concurrency", { key: "{api.name}", "max-count": 1_000_000 }],
];

/** The store a gateway keeps its counters in, as the proxy hands it to every exchange. */
const state = new MemoryStateStore();

function exchange(): PolicyExchange {
  return {
    method: "GET",
    path: "/orders/42",
    requestHeaders: new Headers({ origin: "https://app.example.com", accept: "application/json" }),
    responseHeaders: undefined,
    rest: "/42",
    search: "?x=1",
    params: { id: "42" },
    clientIp: "10.1.2.3",
    api: "orders",
    policy: "bench",
    state,
  };
}

const cache = new PolicyModuleCache();
const results: string[] = [];
const only = process.argv.slice(2);
for (const [name, params] of CASES.filter(([name]) => only.length === 0 || only.includes(name))) {
  const plugin = await PolicyPlugin.create(await cache.compile(builtinModuleBytes(name)), { config: builtinPolicyConfig(name, params) });
  const samples: number[] = [];
  for (let b = 0; b < WARMUP_BATCHES + BATCHES; b++) {
    const started = performance.now();
    for (let i = 0; i < BATCH; i++) {
      const ex = exchange();
      await plugin.call("on_request", ex);
      if (ex.releases) { for (const release of ex.releases) release(); }
    }
    if (b >= WARMUP_BATCHES) samples.push(((performance.now() - started) * 1000) / BATCH);
  }
  samples.sort((a, b) => a - b);
  results.push(`${name.padEnd(20)} ${samples[samples.length >> 1]!.toFixed(2)} µs`);
  await plugin.close();
}
console.log(`${detectRuntime()}: median per on_request call (exchange included)\n${results.join("\n")}`);
