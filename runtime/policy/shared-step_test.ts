import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { builtinPolicyConfig } from "../../config/schema/policies.ts";
import { SHARED_COUNTER_POLICIES } from "../../config/schema/config.ts";
import { resolveSettings } from "../../config/schema/settings.ts";
import { type RedisServer, startRedisServer } from "../../test/redis-server.ts";
import { createLogger } from "../observability/log.ts";
import { RedisConnection, redisOptions } from "../state/redis.ts";
import { SharedCounters } from "../state/shared-counters.ts";
import type { PolicyExchange } from "./abi.ts";
import { builtinModuleBytes } from "./builtins.ts";
import type { ChainStep } from "./chain.ts";
import { PolicyChain, PolicyStep } from "./chain.ts";
import { PolicyModuleCache } from "./extism.ts";
import { SharedCountingStep } from "./shared-step.ts";
import { MemoryStateStore } from "./state.ts";

// A counting built-in (the real rate-limit-by-key module) whose counters live in a real
// redis-server: how often the module runs per request, and what the request gets.

/** A step that counts the calls made to the step it wraps. */
class Counted implements ChainStep {
  calls = 0;
  constructor(readonly inner: ChainStep) {}
  get name() {
    return this.inner.name;
  }
  get failure() {
    return this.inner.failure;
  }
  get body() {
    return this.inner.body;
  }
  has(hook: string) {
    return this.inner.has(hook);
  }
  call(hook: string, exchange: PolicyExchange) {
    this.calls += 1;
    return this.inner.call(hook, exchange);
  }
  close() {
    return this.inner.close();
  }
}

const state = new MemoryStateStore();

function exchange(): PolicyExchange {
  return {
    method: "GET",
    path: "/a/x",
    requestHeaders: new Headers({ "x-tenant": "t" }),
    responseHeaders: undefined,
    rest: "/x",
    search: "",
    params: {},
    clientIp: "10.0.0.1",
    api: "a",
    state,
  };
}

const reporting = { logger: createLogger("none", () => {}), metrics: { policy: () => ({ record() {} }) } };

describe("a counting built-in with its counters in Redis", { timeout: 60_000 }, () => {
  let server: RedisServer;
  let counters: SharedCounters;
  const modules = new PolicyModuleCache();

  /** Connections opened by the tests (closed at the end). */
  const connections: RedisConnection[] = [];

  /** A gateway's counters on the test's Redis, with `cache.redis.prefetch` as given. */
  async function gatewayCounters(prefetch?: number): Promise<SharedCounters> {
    const given = {
      "cache.redis.url": `redis://127.0.0.1:${server.port}`,
      "cache.redis.timeout": "1s",
      ...prefetch !== undefined ? { "cache.redis.prefetch": prefetch } : {},
    };
    const settings = resolveSettings(given, {});
    if (!settings.ok) assert.fail(JSON.stringify(settings.problems));
    const connection = RedisConnection.open(redisOptions(settings.settings)!, createLogger("none", () => {}));
    connections.push(connection);
    const deadline = Date.now() + 10_000;
    while (!connection.up) {
      if (Date.now() > deadline) assert.fail("Redis did not come up");
      await new Promise((r) => setTimeout(r, 20));
    }
    return await SharedCounters.create(connection);
  }

  before(async () => {
    server = await startRedisServer();
    counters = await gatewayCounters();
  });

  after(async () => {
    await Promise.all(connections.map((c) => c.close()));
    await server?.stop();
  });

  /** The rate-limit-by-key module with `params`, wrapped as the pipeline wraps it when Redis is configured (on `on` counters). */
  async function limited(params: Record<string, unknown>, on = counters): Promise<{ chain: PolicyChain; module: Counted }> {
    const config = builtinPolicyConfig("rate-limit-by-key", { "renewal-period": 60, ...params });
    const module = await modules.compile(builtinModuleBytes("rate-limit-by-key"));
    const counted = new Counted(await PolicyStep.create("rate-limit-by-key", "closed", module, { config }));
    const silent = SHARED_COUNTER_POLICIES.get("rate-limit-by-key")!.silentWhenAccepted(config);
    return { chain: new PolicyChain([new SharedCountingStep(counted, "closed", { counters: on }, silent)], "on_request"), module: counted };
  }

  /** Counter script runs (EVALSHA and EVAL) the server has counted so far. */
  function scriptRuns(): number {
    let runs = 0;
    for (const match of server.cli("info", "commandstats").matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) runs += Number(match[2]);
    return runs;
  }

  /** The value and time to live (ms) of the one Redis key whose name contains `part`. */
  function stored(part: string): { value: string; ttl: number } {
    const read =
      "local k = redis.call('KEYS', ARGV[1]) if #k ~= 1 then return {tostring(#k), -1} end return {redis.call('GET', k[1]), redis.call('PTTL', k[1])}";
    const [value, ttl] = server.cli("--raw", "eval", read, "0", `*${part}*`).trim().split("\n");
    return { value: value!, ttl: Number(ttl) };
  }

  /** Runs `chain` on a fresh exchange; resolves with the answer's status (200 when let through). */
  async function status(chain: PolicyChain): Promise<number> {
    const ex = exchange();
    await chain.run(ex, reporting);
    return ex.reply?.status ?? 200;
  }

  it("runs a rate limit without remaining-calls headers once per accepted request, and again for a refused one", async () => {
    const { chain, module } = await limited({ calls: 2, "counter-key": "silent" });
    const answers: PolicyExchange[] = [];
    for (let i = 0; i < 3; i++) {
      const ex = exchange();
      await chain.run(ex, reporting);
      answers.push(ex);
    }
    assert.deepEqual(answers.map((ex) => ex.reply?.status), [undefined, undefined, 429]);
    assert.ok(answers[0]!.counterResetMs! > 59_000, "the exchange has the counter's reset time, as a real run would have set it");
    assert.equal(answers[2]!.reply!.headers.get("retry-after"), "60");
    // Accepted: the rehearsal only (1 run each); refused: the rehearsal and the run that answers 429.
    assert.equal(module.calls, 1 + 1 + 2);
  });

  it("runs a rate limit that writes the remaining calls again with Redis's count, accepted or not", async () => {
    const { chain, module } = await limited({ calls: 2, "counter-key": "loud", "remaining-calls-header-name": "x-remaining" });
    const remaining: (string | null | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      const ex = exchange();
      await chain.run(ex, reporting);
      remaining.push(ex.deferred?.find(([, name]) => name === "x-remaining")?.[2] ?? ex.reply?.headers.get("x-remaining"));
    }
    assert.deepEqual(remaining, ["1", "0", "0"]);
    assert.equal(module.calls, 6);
  });

  it("takes calls ahead on a busy counter and remembers it full: two gateways admit exactly the limit, with far fewer round trips than calls", async () => {
    const [a, b] = await Promise.all([gatewayCounters(), gatewayCounters()]);
    const [onA, onB] = await Promise.all([limited({ calls: 400, "counter-key": "busy" }, a), limited({ calls: 400, "counter-key": "busy" }, b)]);
    const before = scriptRuns();
    // 600 calls one after the other (no two in one turn, so none share a script run), alternating the gateways.
    const statuses: number[] = [];
    let scripts = 0;
    for (let i = 0; i < 600; i++) {
      statuses.push(await status(i % 2 === 0 ? onA.chain : onB.chain));
      // The first 300 calls are under the limit.
      if (i === 299) scripts = scriptRuns() - before;
    }
    // The last 300: about 100 let through, then refused; once Redis refused the counter, each gateway refuses it itself until the window ends.
    const late = scriptRuns() - before - scripts;
    assert.equal(statuses.filter((s) => s === 200).length, 400);
    assert.ok(statuses.every((s) => s === 200 || s === 429));
    // Every call let through was counted in Redis, and the calls taken ahead were all used: the counter holds exactly the limit.
    assert.equal(stored("busy").value, "400");
    assert.ok(scripts < 150, `${scripts} script runs for the first 300 calls`);
    assert.ok(late < 100, `${late} script runs for the last 300 calls (200 of them refused)`);
    // A silent rate limit runs once for a call answered from a grant, as for one Redis accepted.
    assert.equal(onA.module.calls + onB.module.calls, 400 + 2 * 200);
  });

  it("with cache.redis.prefetch 0 asks Redis for every call; a rate limit with remaining-calls headers never takes calls ahead", async () => {
    const none = await limited({ calls: 1000, "counter-key": "no-prefetch" }, await gatewayCounters(0));
    const loud = await limited({ calls: 1000, "counter-key": "loud-busy", "remaining-calls-header-name": "x-remaining" });
    const before = scriptRuns();
    for (let i = 0; i < 100; i++) assert.equal(await status(none.chain), 200);
    assert.equal(scriptRuns() - before, 100);
    assert.equal(stored("no-prefetch").value, "100");
    const remaining: string[] = [];
    for (let i = 0; i < 100; i++) {
      const ex = exchange();
      await loud.chain.run(ex, reporting);
      remaining.push(ex.deferred!.find(([, name]) => name === "x-remaining")![2]!);
    }
    // Each call's own count: nothing was taken ahead.
    assert.deepEqual(remaining, Array.from({ length: 100 }, (_, i) => String(999 - i)));
    assert.equal(stored("loud-busy").value, "100");
  });

  it("uses calls taken ahead only in their window: the first call after it ends asks Redis and starts a new one", async () => {
    const { chain } = await limited({ calls: 100_000, "renewal-period": 1, "counter-key": "short" });
    const first = scriptRuns();
    for (let i = 0; i < 200; i++) assert.equal(await status(chain), 200);
    assert.ok(scriptRuns() - first < 100, `${scriptRuns() - first} script runs for 200 calls: calls were taken ahead`);
    await new Promise((r) => setTimeout(r, 1_100));
    const before = scriptRuns();
    assert.equal(await status(chain), 200);
    assert.equal(scriptRuns() - before, 1, "the call after the window went to Redis");
    const { value, ttl } = stored("short");
    // The new window was started by that call (and holds what it took ahead, at most an eighth of the limit).
    assert.ok(Number(value) >= 1 && Number(value) <= 1 + 32, value);
    assert.ok(ttl > 800 && ttl <= 1_000, `ttl ${ttl}`);
  });
});
