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
    await assert.rejects(step.call("on_request", exchange()), /unreachable/i, "first failure: the guest trapped");
    await assert.rejects(step.call("on_request", exchange()), /unreachable/i, "second failure: a fresh instance trapped too");
    await assert.rejects(step.call("on_request", exchange()), /backing off after 2 failures in a row/);
  });

  it("counts each failure and turns a closed failure into a 500 problem", async () => {
    const module = await new PolicyModuleCache().compile(readFileSync(`${ROOT}policies-wasm/dist/fixtures/trap.wasm`));
    const chain = new PolicyChain([await PolicyStep.create("trap", "closed", module, {})], "on_request");
    const failed: string[] = [];
    const reporting = { logger: createLogger("none"), metrics: { policyFailed: (name: string) => failed.push(name) } };
    await assert.rejects(chain.run(exchange(), reporting), (error: unknown) => error instanceof HttpProblem && error.status === 500);
    assert.deepEqual(failed, ["trap"]);
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
