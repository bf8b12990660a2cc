import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryStateStore } from "../policy/state.ts";
import { GatewayMetrics } from "./metrics.ts";

/** Each metric's type and samples, from Prometheus text; fails on a sample without HELP and TYPE before it. */
function parse(text: string): Map<string, { type: string; help: string; samples: string[] }> {
  const metrics = new Map<string, { type: string; help: string; samples: string[] }>();
  let help = "";
  for (const line of text.trimEnd().split("\n")) {
    const [, kind, name, rest] = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line) ?? [];
    if (kind === "HELP") help = rest!;
    else if (kind === "TYPE") metrics.set(name!, { type: rest!, help, samples: [] });
    else {
      const name = /^([a-z_]+)/.exec(line)![1]!;
      assert.ok(metrics.has(name), `${name} has no HELP and TYPE`);
      metrics.get(name)!.samples.push(line);
    }
  }
  return metrics;
}

describe("GatewayMetrics: bounded state", () => {
  it("reports the sizes and evictions of the bounded structures it is given, each with HELP and TYPE", () => {
    const metrics = new GatewayMetrics();
    const state = new MemoryStateStore({ maxBytes: 1024 * 1024 });
    state.counterAdd("k", 1000, 1, -1, 0);
    metrics.bounds.state = state;
    metrics.bounds.modules = { compiled: 3, evictions: 2 };
    metrics.bounds.upstreamPools = { open: 4, evictions: 5 };
    metrics.bounds.bodies = { bytes: 6, maxBytes: 7, refusals: 8 };
    metrics.heartbeatFailed("too-large");
    metrics.heartbeatFailed("too-large");
    metrics.heartbeatFailed("unreachable");
    const parsed = parse(metrics.render());
    const expected: Record<string, [string, string[]]> = {
      portico_policy_state_bytes: ["gauge", [`portico_policy_state_bytes ${state.bytes}`]],
      portico_policy_state_max_bytes: ["gauge", ["portico_policy_state_max_bytes 1048576"]],
      portico_policy_state_entries: ["gauge", ["portico_policy_state_entries 1"]],
      portico_policy_state_evictions_total: ["counter", ["portico_policy_state_evictions_total 0"]],
      portico_policy_modules_compiled: ["gauge", ["portico_policy_modules_compiled 3"]],
      portico_policy_modules_evicted_total: ["counter", ["portico_policy_modules_evicted_total 2"]],
      portico_upstream_pools: ["gauge", ["portico_upstream_pools 4"]],
      portico_upstream_pools_evicted_total: ["counter", ["portico_upstream_pools_evicted_total 5"]],
      portico_policy_body_buffered_bytes: ["gauge", ["portico_policy_body_buffered_bytes 6"]],
      portico_policy_body_max_buffered_bytes: ["gauge", ["portico_policy_body_max_buffered_bytes 7"]],
      portico_policy_body_refused_total: ["counter", ["portico_policy_body_refused_total 8"]],
      portico_config_heartbeat_failures_total: ["counter", [
        'portico_config_heartbeat_failures_total{reason="too-large"} 2',
        'portico_config_heartbeat_failures_total{reason="unreachable"} 1',
      ]],
    };
    for (const [name, [type, samples]] of Object.entries(expected)) {
      const metric = parsed.get(name);
      assert.ok(metric, `${name} is reported`);
      assert.equal(metric.type, type, name);
      assert.ok(metric.help.length > 20, `${name} has a HELP text`);
      assert.deepEqual(metric.samples, samples);
    }
    assert.ok(state.bytes > 0);
  });

  it("leaves out the structures it is not given (as the upstream pools are on Bun)", () => {
    const text = new GatewayMetrics().render();
    for (const name of ["portico_policy_state_bytes", "portico_upstream_pools", "portico_policy_body_buffered_bytes", "portico_policy_modules_compiled"]) {
      assert.ok(!text.includes(name), name);
    }
    assert.ok(parse(text).has("portico_config_heartbeat_failures_total"));
  });
});
