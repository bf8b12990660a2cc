import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ROOT } from "../../test/harness.ts";
import { type BuildOptions, mustBuild, type Snapshot, snapshotFromValue } from "../../config/snapshot/build.ts";
import type { PolicyStep } from "../policy/chain.ts";
import { type Pipeline, PipelineHolder } from "./pipeline.ts";

/** A configuration whose one API runs `inbound` (default: a set-header policy with `value`), with `policies` as custom modules. */
function config(value: string, custom: { policies?: Record<string, unknown>; inbound?: unknown[] } = {}) {
  return {
    apis: [{ name: "a", path: "/a", backend: "b", policies: { inbound: custom.inbound ?? [{ policy: "set-header", with: { name: "x-v", value } }] } }],
    backends: { b: { urls: ["http://127.0.0.1:9"] } },
    ...(custom.policies ? { policies: custom.policies } : {}),
  };
}

/** The snapshot of a configuration value (hash: its JSON), built with `options`. */
function snapshot(value: unknown, options: BuildOptions = {}): Snapshot {
  return mustBuild(snapshotFromValue(value, "test", { ...options, modules: "any" }));
}

function firstStep(pipeline: Pipeline): PolicyStep {
  const route = pipeline.router.match(null, "GET", "/a/x");
  if ("miss" in route) assert.fail("no route");
  return route.api.target.chains.request.steps[0] as PolicyStep;
}

const tick = () => new Promise((r) => setTimeout(r, 10));

describe("PipelineHolder swaps", () => {
  it("closes a replaced pipeline's policy instances only after its requests have left", async () => {
    const holder = new PipelineHolder();
    const first = await holder.apply(snapshot(config("1")));
    const old = firstStep(first);
    first.enter(); // a request in flight on the first pipeline
    const second = await holder.apply(snapshot(config("2")));
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
    const first = await holder.apply(snapshot(config("same")));
    const second = await holder.apply(snapshot(config("same")));
    await tick();
    assert.equal(firstStep(second), firstStep(first), "the instance is shared");
    assert.equal(firstStep(second).closed, false);
  });

  it("changes nothing when a compile throws", async () => {
    const holder = new PipelineHolder();
    const first = await holder.apply(snapshot(config("1")));
    // A module that is not WebAssembly: the snapshot builds (the bytes are there), the compile fails.
    const junk = new TextEncoder().encode("not a module");
    const sha256 = createHash("sha256").update(junk).digest("hex");
    const broken = snapshot(config("2", { policies: { custom: { sha256 } }, inbound: [{ policy: "custom" }] }), { moduleBytes: () => junk });
    await assert.rejects(holder.apply(broken));
    assert.equal(holder.current, first);
    assert.equal(firstStep(first).closed, false);
  });

  it("keeps in the module cache only the custom modules of the configuration that went live", async () => {
    const bytes = new Map<string, Uint8Array>();
    const custom = (fixture: string) => {
      const module = readFileSync(`${ROOT}policies-wasm/dist/fixtures/${fixture}.wasm`);
      const sha256 = createHash("sha256").update(module).digest("hex");
      bytes.set(sha256, module);
      return snapshot(config("1", { policies: { custom: { sha256 } }, inbound: [{ policy: "custom" }] }), options);
    };
    const holder = new PipelineHolder();
    const options = { moduleBytes: (sha256: string) => bytes.get(sha256) };
    const first = await holder.apply(custom("counter"));
    assert.equal(holder.modules.size, 1);
    first.enter(); // a request in flight keeps the first pipeline's instances
    await holder.apply(custom("state-probe"));
    assert.equal(holder.modules.size, 1, "the first configuration's module went");
    assert.equal(holder.modules.evictions, 1);
    await firstStep(first).call("on_request", { method: "GET", path: "/a/x", requestHeaders: new Headers(), responseHeaders: undefined });
    first.leave();
  });
});
