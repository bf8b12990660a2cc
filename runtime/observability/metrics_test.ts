import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type CollectionResult, type HistogramMetricData, MetricReader } from "@opentelemetry/sdk-metrics";
import { MemoryStateStore } from "../policy/state.ts";
import { createGatewayMeter } from "./meter.ts";
import { GatewayMetrics, type GatewayMetricsOptions } from "./metrics.ts";

/** A family of Prometheus text: its type, help, unit and sample lines. */
interface Family {
  type: string;
  help: string;
  unit: string | undefined;
  samples: string[];
}

/** Each family of Prometheus text; fails on a sample without HELP and TYPE before it. */
function parse(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  let help = "";
  let unit: string | undefined;
  for (const line of text.trimEnd().split("\n")) {
    const [, kind, name, rest] = /^# (HELP|UNIT|TYPE) (\S+) (.*)$/.exec(line) ?? [];
    if (kind === "HELP") [help, unit] = [rest!, undefined];
    else if (kind === "UNIT") unit = rest;
    else if (kind === "TYPE") families.set(name!, { type: rest!, help, unit, samples: [] });
    else {
      const sample = /^([a-z_]+)/.exec(line)![1]!;
      const family = families.get(sample) ?? families.get(sample.replace(/_(bucket|sum|count)$/, ""));
      assert.ok(family, `${sample} has no HELP and TYPE`);
      family.samples.push(line);
    }
  }
  return families;
}

/** A gateway meter with the Prometheus reader and GatewayMetrics on it, as the gateway wires them. */
function setup(options: Partial<GatewayMetricsOptions> = {}) {
  const telemetry = createGatewayMeter({ "telemetry.metrics.prometheus.enabled": true }, { version: "1.2.3" });
  const metrics = new GatewayMetrics(telemetry.meter, { version: "1.2.3", runtime: { name: "test", version: "0" }, system: false, ...options });
  telemetry.addProducer(metrics.producer);
  return {
    metrics,
    scrape: async () => parse(await telemetry.prometheus!.text()),
    close: async () => {
      metrics.close();
      await telemetry.shutdown();
    },
  };
}

/** The value of the sample `name{labels}` (a histogram's as `NAME_bucket`, `_sum`, `_count`). */
function value(families: Map<string, Family>, name: string, labels = ""): number {
  const family = families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, ""));
  assert.ok(family, `${name} is reported`);
  const line = family.samples.find((s) => s.startsWith(`${name}${labels ? `{${labels}}` : ""} `));
  assert.ok(line, `${name}{${labels}} in ${family.samples.join("; ")}`);
  return Number(line.split(" ").at(-1));
}

describe("GatewayMetrics through OpenTelemetry's Prometheus exporter", () => {
  it("reports the sizes and evictions of the bounded structures it is given, each with HELP and TYPE", async () => {
    const { metrics, scrape, close } = setup();
    const state = new MemoryStateStore({ maxBytes: 1024 * 1024 });
    state.counterAdd("k", 1000, 1, -1, 0);
    metrics.bounds.state = state;
    metrics.bounds.modules = { compiled: 3, evictions: 2 };
    metrics.bounds.upstreamPools = { open: 4, evictions: 5 };
    metrics.bounds.bodies = { bytes: 6, maxBytes: 7, refusals: 8 };
    metrics.bounds.cache = { bytes: 9, maxBytes: 10, entries: 11, evictions: 12 };
    metrics.cacheLookup("hit", "internal");
    metrics.cacheLookup("hit", "internal");
    metrics.cacheLookup("miss", "external");
    metrics.cacheStore("too-large");
    metrics.heartbeatFailed("too-large");
    metrics.heartbeatFailed("too-large");
    metrics.heartbeatFailed("unreachable");
    const parsed = await scrape();
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
      portico_cache_internal_bytes: ["gauge", ["portico_cache_internal_bytes 9"]],
      portico_cache_internal_max_bytes: ["gauge", ["portico_cache_internal_max_bytes 10"]],
      portico_cache_internal_entries: ["gauge", ["portico_cache_internal_entries 11"]],
      portico_cache_internal_evictions_total: ["counter", ["portico_cache_internal_evictions_total 12"]],
      portico_cache_lookups_total: ["counter", [
        'portico_cache_lookups_total{result="hit",store="internal"} 2',
        'portico_cache_lookups_total{result="miss",store="external"} 1',
      ]],
      portico_cache_stores_total: ["counter", ['portico_cache_stores_total{outcome="too-large"} 1']],
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
    assert.equal(parsed.get("portico_policy_state_bytes")!.unit, "By");
    assert.ok(state.bytes > 0);
    await close();
  });

  it("leaves out the structures it is not given (as the upstream pools are on Bun), and the process metrics when system metrics are off", async () => {
    const { scrape, close } = setup();
    const parsed = await scrape();
    for (const name of ["portico_policy_state_bytes", "portico_upstream_pools", "portico_policy_body_buffered_bytes", "portico_policy_modules_compiled"]) {
      assert.ok(!parsed.has(name), name);
    }
    for (const name of ["process_cpu_time_total", "process_memory_usage", "portico_eventloop_delay_seconds"]) assert.ok(!parsed.has(name), name);
    assert.equal(value(parsed, "portico_config_applied_total"), 0);
    assert.ok(!parsed.has("portico_config_sync_age_seconds"), "no sync age in standalone mode");
    await close();
  });

  it("accounts policy calls: calls, failures by kind, fuel, and a duration histogram in seconds", async () => {
    const { metrics, scrape, close } = setup();
    const trap = metrics.policy("trap");
    trap.record(undefined, 0.02, 100);
    trap.record("trap", 0.3, 50);
    trap.record("trap", 3, 50);
    trap.record("backing-off", 0.001, 0);
    metrics.policy("quiet");
    metrics.bounds.policyMemory = () => Promise.resolve(new Map([["trap", 17]]));
    const parsed = await scrape();
    assert.deepEqual(parsed.get("portico_policy_calls_total")!.samples, ['portico_policy_calls_total{policy="trap"} 4'], "a policy never called has no series");
    assert.deepEqual(parsed.get("portico_policy_failures_total")!.samples, [
      'portico_policy_failures_total{policy="trap",kind="trap"} 2',
      'portico_policy_failures_total{policy="trap",kind="backing-off"} 1',
    ]);
    assert.equal(value(parsed, "portico_policy_fuel_total", 'policy="trap"'), 200);
    assert.equal(value(parsed, "portico_policy_memory_pages", 'policy="trap"'), 17);
    const duration = parsed.get("portico_policy_duration_seconds")!;
    assert.equal(duration.type, "histogram");
    assert.equal(duration.unit, "s");
    assert.equal(value(parsed, "portico_policy_duration_seconds_bucket", 'policy="trap",le="0.00001"'), 1, "0.001 ms is in the first bucket");
    assert.equal(value(parsed, "portico_policy_duration_seconds_bucket", 'policy="trap",le="0.000025"'), 2, "0.02 ms in the second: cumulative counts");
    assert.equal(value(parsed, "portico_policy_duration_seconds_bucket", 'policy="trap",le="0.0005"'), 3);
    assert.equal(value(parsed, "portico_policy_duration_seconds_bucket", 'policy="trap",le="0.0025"'), 3);
    assert.equal(value(parsed, "portico_policy_duration_seconds_bucket", 'policy="trap",le="0.005"'), 4);
    assert.equal(value(parsed, "portico_policy_duration_seconds_bucket", 'policy="trap",le="+Inf"'), 4);
    assert.equal(value(parsed, "portico_policy_duration_seconds_count", 'policy="trap"'), 4);
    assert.ok(Math.abs(value(parsed, "portico_policy_duration_seconds_sum", 'policy="trap"') - 3.321e-3) < 1e-9);
    await close();
  });

  it("reports the applied configuration's revision and hash, the sync age and failures, the token expiry and build info", async () => {
    const { metrics, scrape, close } = setup();
    metrics.config = { revision: 42, hash: "abc", source: "backup" };
    metrics.sync = { lastSuccessAt: Date.now() - 90_000 };
    metrics.syncFailures = 3;
    metrics.tokenExpiresAt = Date.now() + 3_600_000;
    const parsed = await scrape();
    assert.deepEqual(parsed.get("portico_config_revision")!.samples, ['portico_config_revision{hash="abc",source="backup"} 42']);
    const age = value(parsed, "portico_config_sync_age_seconds");
    assert.ok(age >= 90 && age < 100, String(age));
    assert.equal(value(parsed, "portico_config_sync_failures_total"), 3);
    assert.equal(value(parsed, "portico_gateway_token_expiry_seconds"), 3600);
    assert.deepEqual(parsed.get("portico_build_info")!.samples, ['portico_build_info{version="1.2.3",runtime="test",runtime_version="0"} 1']);
    metrics.sync = { lastSuccessAt: undefined };
    const fresh = value(await scrape(), "portico_config_sync_age_seconds");
    assert.ok(fresh >= 0 && fresh < 10, "before a first sync, the age counts from start-up");
    await close();
  });

  it("reports process CPU time, resident memory and event-loop delay when system metrics are on", async () => {
    const { scrape, close } = setup({ system: true });
    // Keep the event loop busy for 300 ms: the 100 ms timer fires at least 200 ms late.
    const until = performance.now() + 300;
    while (performance.now() < until) { /* busy */ }
    await new Promise((r) => setTimeout(r, 250));
    const parsed = await scrape();
    assert.ok(value(parsed, "process_cpu_time_total", 'cpu_mode="user"') > 0.2, "at least the busy loop's CPU time");
    assert.equal(parsed.get("process_cpu_time_total")!.unit, "s");
    assert.ok(value(parsed, "process_memory_usage") > 10 * 1024 * 1024, "RSS of a runtime is more than 10 MiB");
    assert.equal(parsed.get("portico_eventloop_delay_seconds")!.type, "histogram");
    const delayed = value(parsed, "portico_eventloop_delay_seconds_bucket", 'le="+Inf"') - value(parsed, "portico_eventloop_delay_seconds_bucket", 'le="0.1"');
    assert.ok(delayed >= 1, `one tick at least 100 ms late:\n${parsed.get("portico_eventloop_delay_seconds")!.samples.join("\n")}`);
    await close();
  });

  it("feeds other readers the same instruments and histograms, under their OpenTelemetry names and units", async () => {
    class TestReader extends MetricReader {
      protected onShutdown = () => Promise.resolve();
      protected onForceFlush = () => Promise.resolve();
    }
    let reader: TestReader | undefined;
    const telemetry = createGatewayMeter({ "telemetry.metrics.prometheus.enabled": false }, {
      readers: (producer) => [reader = new TestReader({ metricProducers: [producer] })],
    });
    assert.equal(telemetry.prometheus, undefined);
    const metrics = new GatewayMetrics(telemetry.meter, { version: "1.2.3", runtime: { name: "test", version: "0" }, system: false });
    telemetry.addProducer(metrics.producer);
    metrics.policy("p").record("out-of-fuel", 1, 10);
    const { resourceMetrics }: CollectionResult = await reader!.collect();
    const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.map((m) => [s.scope.name, m] as const));
    const byName = new Map(all.map(([scope, m]) => [m.descriptor.name, { scope, m }]));
    assert.equal(byName.get("portico.policy.failures")?.scope, "portico");
    assert.deepEqual(byName.get("portico.policy.failures")!.m.dataPoints.map((p) => [p.attributes, p.value]), [[{ policy: "p", kind: "out-of-fuel" }, 1]]);
    const duration = byName.get("portico.policy.duration_seconds")!.m as HistogramMetricData;
    assert.equal(duration.descriptor.unit, "s");
    assert.equal(duration.dataPoints[0]!.value.sum, 0.001);
    metrics.close();
    await telemetry.shutdown();
  });
});
