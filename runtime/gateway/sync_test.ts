import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ControlPlaneClient } from "../../config/source/control-plane.ts";
import { checkTraffic } from "../../control-plane/heartbeat.ts";
import { metrics as noMeters } from "@opentelemetry/api";
import { GatewayMetrics } from "../observability/metrics.ts";
import { TrafficSummary } from "../observability/summary.ts";
import type { ConfigApplier } from "./apply.ts";
import { ControlPlaneSync } from "./sync.ts";

/** A sync loop that is never started: only its heartbeat report is read. */
function syncWith(summary?: TrafficSummary): ControlPlaneSync {
  const quiet = { info() {}, warn() {}, error() {} };
  return new ControlPlaneSync({
    client: { options: { token: "not-a-token", gateway: "edge-1" } } as unknown as ControlPlaneClient,
    applier: {} as ConfigApplier,
    backup: undefined,
    logger: quiet as never,
    metrics: new GatewayMetrics(noMeters.getMeter("test"), { version: "test", runtime: { name: "test", version: "0" }, system: false }),
    syncIntervalMs: 1000,
    heartbeatIntervalMs: 1000,
    version: "test",
    runtime: "test",
    summary,
  });
}

describe("the heartbeat report's traffic", () => {
  it("takes the summary: what was served since the previous report, in the shape the control plane accepts", () => {
    let now = 0;
    const summary = new TrafficSummary(() => now);
    const sync = syncWith(summary);
    summary.record("echo", 200, 12);
    summary.record("echo", 503, 40);
    summary.record(undefined, 404, 1);
    now = 2_000;
    const first = JSON.parse(JSON.stringify(sync.report()));
    const [echo, none] = first.traffic.apis;
    // The quantiles of two requests are read from the histogram: each within the bucket of the latency it names (buckets are ~41 % wide).
    assert.ok(echo.p50Ms >= 12 && echo.p50Ms <= 12 * 1.41, `p50 ${echo.p50Ms}`);
    assert.ok(echo.p99Ms >= 40 / 1.41 && echo.p99Ms <= 40, `p99 ${echo.p99Ms}`);
    assert.deepEqual(first.traffic, {
      intervalSeconds: 2,
      requests: 3,
      errors4xx: 1,
      errors5xx: 1,
      apis: [
        { name: "echo", requests: 2, errors4xx: 0, errors5xx: 1, p50Ms: echo.p50Ms, p99Ms: echo.p99Ms },
        { name: "(none)", requests: 1, errors4xx: 1, errors5xx: 0, p50Ms: 1, p99Ms: 1 },
      ],
    });
    assert.equal(none.p50Ms, 1, "one request: its own latency");
    assert.ok(checkTraffic(first.traffic).ok);
    now = 3_000;
    assert.deepEqual(JSON.parse(JSON.stringify(sync.report())).traffic, { intervalSeconds: 1, requests: 0, errors4xx: 0, errors5xx: 0, apis: [] });
  });

  it("has no traffic field without a summary", () => {
    assert.equal("traffic" in JSON.parse(JSON.stringify(syncWith().report())), false);
  });
});
