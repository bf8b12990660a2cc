import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ROOT } from "../../test/harness.ts";
import { validateConfig } from "../../config/schema/validate.ts";
import type { PolicyStep } from "../policy/chain.ts";
import { PipelineHolder, type Pipeline } from "./pipeline.ts";

function config(value: string) {
  const result = validateConfig({
    apis: [{ name: "a", path: "/a", backend: "b", policies: { inbound: [{ policy: "set-header", with: { name: "x-v", value } }] } }],
    backends: { b: { urls: ["http://127.0.0.1:9"] } },
  });
  if (!result.ok) assert.fail(JSON.stringify(result.problems));
  return result.config;
}

function firstStep(pipeline: Pipeline): PolicyStep {
  const route = pipeline.router.match(null, "GET", "/a/x");
  if ("miss" in route) assert.fail("no route");
  return route.api.target.chains.request.steps[0]!;
}

const tick = () => new Promise((r) => setTimeout(r, 10));

describe("PipelineHolder swaps", () => {
  it("closes a replaced pipeline's policy instances only after its requests have left", async () => {
    const holder = new PipelineHolder();
    const first = await holder.apply(config("1"), "h1");
    const old = firstStep(first);
    first.enter(); // a request in flight on the first pipeline
    const second = await holder.apply(config("2"), "h2");
    assert.equal(holder.current, second);
    await tick();
    assert.equal(old.closed, false, "still in use by the request in flight");
    first.leave();
    await tick();
    assert.equal(old.closed, true, "closed once drained");
    assert.equal(firstStep(second).closed, false);
  });

  it("keeps an unchanged policy instance across a swap, and never closes it", async () => {
    const holder = new PipelineHolder();
    const first = await holder.apply(config("same"), "h1");
    const second = await holder.apply(config("same"), "h2");
    await tick();
    assert.equal(firstStep(second), firstStep(first), "the instance is shared");
    assert.equal(firstStep(second).closed, false);
  });

  it("changes nothing when a compile throws", async () => {
    const holder = new PipelineHolder();
    const first = await holder.apply(config("1"), "h1");
    const broken = { ...config("2"), policies: { custom: { sha256: "a".repeat(64), failure: "closed" as const } } };
    broken.apis[0]!.policies!.inbound = [{ policy: "custom" }];
    await assert.rejects(holder.apply(broken, "h2", { moduleBytes: () => undefined }), /module sha256 a{64} is not available/);
    assert.equal(holder.current, first);
    assert.equal(firstStep(first).closed, false);
  });

  it("keeps in the module cache only the custom modules of the configuration that went live", async () => {
    const bytes = new Map<string, Uint8Array>();
    const custom = (fixture: string) => {
      const module = readFileSync(`${ROOT}policies-wasm/dist/fixtures/${fixture}.wasm`);
      const sha256 = createHash("sha256").update(module).digest("hex");
      bytes.set(sha256, module);
      const value = { ...config("1"), policies: { custom: { sha256, failure: "closed" as const } } };
      value.apis[0]!.policies!.inbound = [{ policy: "custom" }];
      return value;
    };
    const holder = new PipelineHolder();
    const options = { moduleBytes: (sha256: string) => bytes.get(sha256) };
    const first = await holder.apply(custom("counter"), "h1", options);
    assert.equal(holder.modules.size, 1);
    first.enter(); // a request in flight keeps the first pipeline's instances
    await holder.apply(custom("state-probe"), "h2", options);
    assert.equal(holder.modules.size, 1, "the first configuration's module went");
    assert.equal(holder.modules.evictions, 1);
    await firstStep(first).call("on_request", { method: "GET", path: "/a/x", requestHeaders: new Headers(), responseHeaders: undefined });
    first.leave();
  });
});
