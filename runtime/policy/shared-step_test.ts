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
  let redis: RedisConnection;
  let counters: SharedCounters;
  const modules = new PolicyModuleCache();

  before(async () => {
    server = await startRedisServer();
    const settings = resolveSettings({ "cache.redis.url": `redis://127.0.0.1:${server.port}`, "cache.redis.timeout": "1s" }, {});
    if (!settings.ok) assert.fail(JSON.stringify(settings.problems));
    redis = RedisConnection.open(redisOptions(settings.settings)!, createLogger("none", () => {}));
    const deadline = Date.now() + 10_000;
    while (!redis.up) {
      if (Date.now() > deadline) assert.fail("Redis did not come up");
      await new Promise((r) => setTimeout(r, 20));
    }
    counters = await SharedCounters.create(redis);
  });

  after(async () => {
    await redis?.close();
    await server?.stop();
  });

  /** The rate-limit-by-key module with `params`, wrapped as the pipeline wraps it when Redis is configured. */
  async function limited(params: Record<string, unknown>): Promise<{ chain: PolicyChain; module: Counted }> {
    const config = builtinPolicyConfig("rate-limit-by-key", { "renewal-period": 60, ...params });
    const module = await modules.compile(builtinModuleBytes("rate-limit-by-key"));
    const counted = new Counted(await PolicyStep.create("rate-limit-by-key", "closed", module, { config }));
    const silent = SHARED_COUNTER_POLICIES.get("rate-limit-by-key")!.silentWhenAccepted(config);
    return { chain: new PolicyChain([new SharedCountingStep(counted, "closed", { counters }, silent)], "on_request"), module: counted };
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
});
