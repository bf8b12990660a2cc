import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ROOT } from "../../test/harness.ts";
import { builtinPolicyConfig } from "../../config/schema/policies.ts";
import type { PolicyExchange } from "./abi.ts";
import { countResponseBytes } from "./byte-meters.ts";
import { PolicyModuleCache, PolicyPlugin } from "./extism.ts";
import { readFixtures } from "./fixtures.ts";
import { compileForFixtures, runFixtures } from "./harness.ts";
import { MemoryStateStore } from "./state.ts";

// ABI 1.4: who is calling (`portico_context`, the SDK's Subscription/Product/Jwt/Caller and
// templates), and the built-in rate limits and quotas counting by subscription and by bytes.

const cache = new PolicyModuleCache();
const plugins: PolicyPlugin[] = [];
after(async () => {
  for (const plugin of plugins) await plugin.close();
});

async function load(path: string, config: Record<string, string> = {}): Promise<PolicyPlugin> {
  const plugin = await PolicyPlugin.create(await cache.compile(readFileSync(`${ROOT}policies-wasm/dist/${path}.wasm`)), { config });
  plugins.push(plugin);
  return plugin;
}

/** A built-in with its parameters validated and defaulted as a configuration would. */
function builtin(name: "rate-limit" | "quota" | "quota-by-key", params: Record<string, unknown>): Promise<PolicyPlugin> {
  return load(`builtins/${name}`, builtinPolicyConfig(name, params));
}

const ALICE = { id: "sub-alice", name: "alice" };
const BOB = { id: "sub-bob", name: "bob" };

function exchange(extra: Partial<PolicyExchange> = {}): PolicyExchange {
  return { method: "GET", path: "/x", requestHeaders: new Headers(), responseHeaders: undefined, api: "orders", policy: "p", ...extra };
}

/** Runs on_request and answers the reply's status, or 0 when the request goes on. */
async function status(plugin: PolicyPlugin, ex: PolicyExchange): Promise<number> {
  await plugin.call("on_request", ex);
  return ex.reply?.status ?? 0;
}

describe("portico_context and the SDK's caller accessors (context-probe fixture)", () => {
  const template = "{subscription.id}|{subscription.name}|{product.name}|{jwt.claim.sub}|{jwt.claim.https://example.com/roles}|{api.name}";

  it("gives the subscription, product and claims of the exchange, to the accessors and to templates", async () => {
    const plugin = await load("fixtures/context-probe", { template });
    const ex = exchange({
      subscription: ALICE,
      product: "starter",
      claims: new Map([["sub", "user-7"], ["https://example.com/roles", "admin,reader"]]),
    });
    await plugin.call("on_request", ex);
    assert.equal(ex.requestHeaders.get("x-subscription-id"), "sub-alice");
    assert.equal(ex.requestHeaders.get("x-subscription-name"), "alice");
    assert.equal(ex.requestHeaders.get("x-product"), "starter");
    assert.equal(ex.requestHeaders.get("x-claim-sub"), "user-7");
    assert.equal(ex.requestHeaders.get("x-unknown"), "(none)", "a name portico_context does not know is absent, never another value");
    assert.equal(ex.requestHeaders.get("x-template"), "sub-alice|alice|starter|user-7|admin,reader|orders");
  });

  it("answers absent for an anonymous call without a token, and templates render it empty", async () => {
    const plugin = await load("fixtures/context-probe", { template });
    const ex = exchange();
    await plugin.call("on_request", ex);
    for (const name of ["x-subscription-id", "x-subscription-name", "x-product", "x-claim-sub"]) assert.equal(ex.requestHeaders.get(name), "(none)", name);
    assert.equal(ex.requestHeaders.get("x-template"), "|||||orders");
  });

  it("is a 1.4 import, which built-ins import only when they use it", () => {
    const imports = (path: string) =>
      WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(`${ROOT}policies-wasm/dist/${path}.wasm`))).map((i) => i.name);
    assert.ok(imports("fixtures/context-probe").includes("portico_context"));
    assert.ok(imports("builtins/rate-limit").includes("portico_context"));
    assert.ok(imports("builtins/quota").includes("portico_counter_add_bytes"));
    assert.ok(!imports("builtins/set-header").includes("portico_context"), "a module that does not ask needs no 1.4 function");
  });
});

describe("rate-limit counts per subscription and API", () => {
  it("gives two subscriptions independent limits, keeps a subscription's counters per API, and counts anonymous calls per API", async () => {
    const plugin = await builtin("rate-limit", { calls: 2, "renewal-period": 60 });
    const state = new MemoryStateStore();
    const call = (extra: Partial<PolicyExchange>) => status(plugin, exchange({ state, ...extra }));
    assert.equal(await call({ subscription: ALICE }), 0);
    assert.equal(await call({ subscription: ALICE }), 0);
    assert.equal(await call({ subscription: ALICE }), 429, "alice's third call in the window");
    assert.equal(await call({ subscription: BOB }), 0, "bob has his own counter");
    assert.equal(await call({ subscription: BOB }), 0);
    assert.equal(await call({ subscription: BOB }), 429);
    assert.equal(await call({ subscription: ALICE, api: "billing" }), 0, "alice's counter on another API is its own");
    assert.equal(await call({}), 0, "anonymous calls count for the API, apart from subscriptions");
    assert.equal(await call({}), 0);
    assert.equal(await call({}), 429);
  });
});

describe("quota counts per subscription, by calls and by bandwidth", () => {
  it("counts a subscription's calls across the APIs it runs on, and anonymous calls per API, with 403 and Retry-After", async () => {
    const plugin = await builtin("quota", { calls: 2, "renewal-period": 3600 });
    const state = new MemoryStateStore();
    const call = (extra: Partial<PolicyExchange>) => exchange({ state, ...extra });
    assert.equal(await status(plugin, call({ subscription: ALICE, api: "orders" })), 0);
    assert.equal(await status(plugin, call({ subscription: ALICE, api: "billing" })), 0);
    const refused = call({ subscription: ALICE, api: "orders" });
    assert.equal(await status(plugin, refused), 403);
    const problem = JSON.parse(refused.reply!.body);
    assert.equal(problem.type, "urn:portico:problem:quota-exceeded");
    assert.match(problem.detail, /^Out of call volume quota\. Quota will be replenished in 0\d:\d\d:\d\d\.$/);
    assert.ok(Number(refused.reply!.headers.get("retry-after")) > 3500);
    assert.equal(await status(plugin, call({ subscription: BOB })), 0, "another subscription has its own quota");
    assert.equal(await status(plugin, call({ api: "orders" })), 0);
    assert.equal(await status(plugin, call({ api: "orders" })), 0);
    assert.equal(await status(plugin, call({ api: "orders" })), 403);
    assert.equal(await status(plugin, call({ api: "billing" })), 0, "anonymous calls count per API");
  });

  it("counts the bytes of the answer as they stream, chunked or not, and refuses later calls once the bandwidth is used", async () => {
    const plugin = await builtin("quota", { bandwidth: 1, "renewal-period": 60 });
    const state = new MemoryStateStore();
    /** One allowed call whose answer streams `sizes` chunks without a length. */
    const download = async (who: typeof ALICE, sizes: number[]) => {
      const ex = exchange({ state, subscription: who });
      assert.equal(await status(plugin, ex), 0);
      assert.equal(ex.meters?.length, 1, "the policy attached a byte counter");
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const size of sizes) controller.enqueue(new Uint8Array(size));
          controller.close();
        },
      });
      const counted = countResponseBytes(ex, new Response(body, { headers: { "x-kept": "yes" } }));
      assert.equal(counted.headers.get("x-kept"), "yes");
      assert.equal((await counted.arrayBuffer()).byteLength, sizes.reduce((a, b) => a + b, 0), "the body passes whole");
    };
    await download(ALICE, [300, 300]);
    await download(ALICE, [300, 123]); // 1023 bytes: under 1 KiB
    await download(ALICE, [1]); // reaches 1024: this call completes, later ones are refused
    const refused = exchange({ state, subscription: ALICE });
    assert.equal(await status(plugin, refused), 403);
    assert.match(JSON.parse(refused.reply!.body).detail, /^Out of bandwidth quota\. Quota will be replenished in 00:0\d:\d\d\.$/);
    assert.ok(Number(refused.reply!.headers.get("retry-after")) <= 60);
    assert.equal(refused.meters, undefined, "a refused call counts nothing");
    await download(BOB, [1000]);
  });

  it("quota-by-key: calls and bandwidth together, either one refusing", async () => {
    const plugin = await builtin("quota-by-key", { calls: 3, bandwidth: 2, "renewal-period": 60, "counter-key": "{request.header.x-tenant}" });
    const state = new MemoryStateStore();
    const call = async (tenant: string, bytes: number) => {
      const ex = exchange({ state, requestHeaders: new Headers({ "x-tenant": tenant }) });
      const code = await status(plugin, ex);
      if (!code && bytes) await countResponseBytes(ex, new Response(new Uint8Array(bytes))).arrayBuffer();
      return code ? JSON.parse(ex.reply!.body).detail as string : "ok";
    };
    assert.equal(await call("a", 2048), "ok");
    assert.match(await call("a", 0), /^Out of bandwidth quota/);
    assert.equal(await call("b", 0), "ok");
    assert.equal(await call("b", 0), "ok");
    assert.equal(await call("b", 0), "ok");
    assert.match(await call("b", 0), /^Out of call volume quota/);
  });
});

describe("portico policy test with subscriptions in the fixtures", () => {
  const dir = mkdtempSync(join(tmpdir(), "portico-fixtures-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs rate-limit cases as two subscriptions and an anonymous caller", async () => {
    const file = join(dir, "fixtures.yaml");
    writeFileSync(
      file,
      `policy: rate-limit
with: { calls: 1, renewal-period: 60 }
cases:
  - { name: alice's first call, request: { api: orders, subscription: { id: s-a, name: alice }, product: starter } }
  - { name: alice's second is refused, request: { api: orders, subscription: { id: s-a, name: alice } }, expect: { reply: { status: 429 } } }
  - { name: bob's first call, request: { api: orders, subscription: { id: s-b, name: bob }, claims: { sub: u-1 } } }
  - { name: an anonymous call, request: { api: orders } }
  - { name: a second anonymous call is refused, request: { api: orders }, expect: { reply: { status: 429 } } }
`,
    );
    const read = readFixtures(file);
    assert.ok(read.ok, JSON.stringify(!read.ok && read.problems));
    const module = await compileForFixtures(readFileSync(`${ROOT}policies-wasm/dist/builtins/rate-limit.wasm`), read.fixtures);
    const results = await runFixtures(module, read.fixtures, "rate-limit", () => {});
    assert.deepEqual(results.map((r) => r.differences), [[], [], [], [], []]);
  });
});
