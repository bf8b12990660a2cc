import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ROOT } from "../../test/harness.ts";
import { createLogger } from "../observability/log.ts";
import { HttpProblem } from "../http/problem.ts";
import type { PolicyExchange } from "./abi.ts";
import { PolicyChain, PolicyStep, PolicySteps } from "./chain.ts";
import { PolicyModuleCache } from "./extism.ts";

const exchange = (): PolicyExchange => ({ method: "GET", path: "/", requestHeaders: new Headers(), responseHeaders: undefined });

describe("policy steps and chains", () => {
  it("backs off after failures in a row, failing at once without running the policy", async () => {
    const module = await new PolicyModuleCache().compile(readFileSync(`${ROOT}policies-wasm/dist/fixtures/trap.wasm`));
    const step = await PolicyStep.create("trap", "closed", module, {});
    assert.throws(() => step.call("on_request", exchange()), /unreachable/i, "first failure: the guest trapped");
    // The replacement is being made: this call waits for it, and it traps too.
    await assert.rejects(async () => await step.call("on_request", exchange()), /unreachable/i, "second failure: a fresh instance trapped too");
    assert.throws(() => step.call("on_request", exchange()), /backing off after 2 failures in a row/);
  });

  it("accounts each call to its policy, failures by kind, and turns a closed failure into a 500 problem", async () => {
    const cache = new PolicyModuleCache();
    const fixture = (name: string) => readFileSync(`${ROOT}policies-wasm/dist/fixtures/${name}.wasm`);
    const calls: { policy: string; kind: string | undefined; ms: number; fuel: number }[] = [];
    const reporting = {
      logger: createLogger("none"),
      metrics: {
        policy: (policy: string) => ({ record: (kind: string | undefined, ms: number, fuel: number) => void calls.push({ policy, kind, ms, fuel }) }),
      },
    };
    const run = async (policy: string, module: Uint8Array, budget?: { fuel: number; memoryBytes: number }, config?: Record<string, string>) => {
      const step = await PolicyStep.create(policy, "closed", await cache.compile(module, undefined, budget), { config });
      const chain = new PolicyChain([step], "on_request");
      const outcome = await (async () => await chain.run(exchange(), reporting))().then(
        () => "ok",
        (error: unknown) => error instanceof HttpProblem && error.status === 500 ? "500" : String(error),
      );
      return { step, chain, outcome, last: calls.at(-1)! };
    };

    const ok = await run("counter", fixture("counter"), { fuel: 1_000, memoryBytes: 16 * 1024 * 1024 });
    assert.equal(ok.outcome, "ok");
    assert.deepEqual([ok.last.policy, ok.last.kind, ok.last.fuel], ["counter", undefined, 1], "one function entry: one unit of fuel");
    assert.ok(ok.last.ms >= 0);

    const trap = await run("trap", fixture("trap"));
    assert.equal(trap.outcome, "500");
    assert.equal(trap.last.kind, "trap");
    await (async () => await trap.chain.run(exchange(), reporting))().catch(() => {});
    await (async () => await trap.chain.run(exchange(), reporting))().catch(() => {});
    assert.deepEqual(calls.slice(-2).map((c) => c.kind), ["trap", "backing-off"], "the third failure in a row is refused without running");

    const loop = await run("loop", fixture("infinite-loop"), { fuel: 10_000, memoryBytes: 16 * 1024 * 1024 });
    assert.deepEqual([loop.outcome, loop.last.kind, loop.last.fuel], ["500", "out-of-fuel", 10_000], "out of fuel: the whole budget used");

    const bomb = await run("bomb", fixture("memory-bomb"), { fuel: 1_000_000_000, memoryBytes: 4 * 1024 * 1024 });
    assert.deepEqual([bomb.outcome, bomb.last.kind], ["500", "memory-cap"]);
    assert.ok(bomb.last.fuel > 0);

    const host = await run("huge", fixture("huge-output"), { fuel: 100_000_000, memoryBytes: 128 * 1024 * 1024 }, { mode: "header" });
    assert.deepEqual([host.outcome, host.last.kind], ["500", "host-error"], "a host function refused what the policy passed");
    assert.equal(calls.length, 7);
    for (const step of [ok.step, trap.step, loop.step, bomb.step, host.step]) await step.close();
  });

  it("reports the linear memory of a configuration's instances by policy name", async () => {
    const module = await new PolicyModuleCache().compile(readFileSync(`${ROOT}policies-wasm/dist/builtins/set-header.wasm`));
    const steps = new PolicySteps();
    const a = await steps.get("set-header", "closed", module, { config: { name: "x-a", value: "1" } });
    await steps.get("set-header", "closed", module, { config: { name: "x-b", value: "1" } });
    const pages = await steps.memory();
    assert.deepEqual([...pages.keys()], ["set-header"]);
    assert.equal(pages.get("set-header"), 2 * a.memoryPages!, "two instances of the same policy, summed");
    assert.ok(a.memoryPages! >= 1);
    steps.discard();
  });
});

describe("PolicySteps", () => {
  it("shares one instance between uses with the same policy and parameters, and reuses the previous configuration's", async () => {
    const module = await new PolicyModuleCache().compile(readFileSync(`${ROOT}policies-wasm/dist/builtins/set-header.wasm`));
    const first = new PolicySteps();
    const a = await first.get("set-header", "closed", module, { config: { name: "x-a", value: "1" } });
    const b = await first.get("set-header", "closed", module, { config: { value: "1", name: "x-a" } });
    const c = await first.get("set-header", "closed", module, { config: { name: "x-a", value: "2" } });
    const d = await first.get("set-header", "open", module, { config: { name: "x-a", value: "1" } });
    assert.equal(a, b, "same parameters in any order: one step");
    assert.notEqual(a, c, "other parameters: another step");
    assert.notEqual(a, d, "another failure mode: another step");
    assert.equal(first.size, 3);
    const next = new PolicySteps(first);
    assert.equal(await next.get("set-header", "closed", module, { config: { name: "x-a", value: "2" } }), c, "kept across a swap");
    assert.equal(next.size, 1);
  });
});
