import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DataPointType, type HistogramMetricData, type MetricData, type SumMetricData } from "@opentelemetry/sdk-metrics";
import { MAX_CELLS, type RequestFacts, RequestMetrics, upstreamErrorCause } from "./request-metrics.ts";

function facts(over: Partial<RequestFacts> = {}): RequestFacts {
  return {
    method: "GET",
    status: 200,
    api: "orders",
    operation: "get",
    product: undefined,
    backend: "orders",
    subscription: "contoso",
    totalMs: 3,
    backendMs: 2,
    requestBytes: -1,
    responseBytes: 100,
    ...over,
  };
}

async function metricsOf(metrics: RequestMetrics): Promise<Map<string, MetricData>> {
  const result = await metrics.collect();
  return new Map(result.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]));
}

describe("RequestMetrics", () => {
  it("adds requests with the same attributes to one histogram point, in seconds, with bucket counts, sum, min and max", async () => {
    const metrics = new RequestMetrics([1, 5, 10], false);
    metrics.record(facts({ totalMs: 0.5, backendMs: 0.2 }));
    metrics.record(facts({ totalMs: 7, backendMs: 6 }));
    metrics.record(facts({ totalMs: 20, backendMs: -1 }));
    const duration = (await metricsOf(metrics)).get("http.server.request.duration") as HistogramMetricData;
    assert.equal(duration.dataPointType, DataPointType.HISTOGRAM);
    assert.equal(duration.descriptor.unit, "s");
    assert.equal(duration.dataPoints.length, 1);
    const point = duration.dataPoints[0]!;
    assert.deepEqual(point.attributes, {
      "http.request.method": "GET",
      "http.response.status_code": 200,
      api: "orders",
      operation: "get",
      backend: "orders",
    });
    assert.deepEqual(point.value.buckets, { boundaries: [0.001, 0.005, 0.01], counts: [1, 0, 1, 1] });
    assert.equal(point.value.count, 3);
    assert.ok(Math.abs(point.value.sum! - 0.0275) < 1e-12);
    assert.equal(point.value.min, 0.0005);
    assert.equal(point.value.max, 0.02);
  });

  it("counts each request in its own point when attributes alternate, whichever one changes", async () => {
    const metrics = new RequestMetrics([1, 5, 10], true);
    const sets: Partial<RequestFacts>[] = [{}, { status: 404 }, { method: "POST" }, { api: "users" }, { operation: "list" }, { product: "gold" }, {
      backend: "b2",
    }, {
      subscription: "fabrikam",
    }];
    // Each set twice in a row, then all of them again in turn: 3 requests per point.
    for (const set of sets) for (let i = 0; i < 2; i++) metrics.record(facts(set));
    for (const set of sets) metrics.record(facts(set));
    const duration = (await metricsOf(metrics)).get("http.server.request.duration") as HistogramMetricData;
    assert.equal(duration.dataPoints.length, sets.length);
    for (const point of duration.dataPoints) assert.equal(point.value.count, 3, JSON.stringify(point.attributes));
  });

  it("splits backend and gateway time (a request that reached no backend is all gateway time)", async () => {
    const metrics = new RequestMetrics([1, 5, 10], false);
    metrics.record(facts({ totalMs: 7, backendMs: 6 }));
    metrics.record(facts({ totalMs: 2, backendMs: -1 }));
    const all = await metricsOf(metrics);
    const backend = (all.get("portico.backend.duration_seconds") as HistogramMetricData).dataPoints[0]!.value;
    const gateway = (all.get("portico.gateway.duration_seconds") as HistogramMetricData).dataPoints[0]!.value;
    assert.equal(backend.count, 1);
    assert.equal(backend.sum, 0.006);
    assert.equal(gateway.count, 2);
    assert.ok(Math.abs(gateway.sum! - 0.003) < 1e-12);
  });

  it("counts body sizes only when declared", async () => {
    const metrics = new RequestMetrics([1], false);
    metrics.record(facts({ requestBytes: -1, responseBytes: 300 }));
    metrics.record(facts({ requestBytes: 10, responseBytes: -1 }));
    const all = await metricsOf(metrics);
    assert.equal((all.get("http.server.request.body.size") as HistogramMetricData).dataPoints[0]!.value.count, 1);
    assert.equal((all.get("http.server.response.body.size") as HistogramMetricData).dataPoints[0]!.value.sum, 300);
  });

  it("names the product when the request came through one, and leaves out what a request did not have", async () => {
    const metrics = new RequestMetrics([1], false);
    metrics.record(facts({ product: "gold" }));
    metrics.record(facts({ api: undefined, operation: undefined, backend: undefined, status: 404, backendMs: -1 }));
    const points = ((await metricsOf(metrics)).get("http.server.request.duration") as HistogramMetricData).dataPoints;
    assert.equal(points.find((p) => p.attributes["http.response.status_code"] === 200)!.attributes.product, "gold");
    assert.deepEqual(points.find((p) => p.attributes["http.response.status_code"] === 404)!.attributes, {
      "http.request.method": "GET",
      "http.response.status_code": 404,
    });
  });

  it("names the subscription only when asked to", async () => {
    const without = new RequestMetrics([1], false);
    without.record(facts());
    const withSubs = new RequestMetrics([1], true);
    withSubs.record(facts());
    withSubs.record(facts({ subscription: "fabrikam" }));
    const a = (await metricsOf(without)).get("http.server.request.duration") as HistogramMetricData;
    const b = (await metricsOf(withSubs)).get("http.server.request.duration") as HistogramMetricData;
    assert.equal(a.dataPoints[0]!.attributes.subscription, undefined);
    assert.deepEqual(b.dataPoints.map((p) => p.attributes.subscription).sort(), ["contoso", "fabrikam"]);
  });

  it(`keeps at most ${MAX_CELLS} attribute sets; the rest share one overflow point`, async () => {
    const metrics = new RequestMetrics([1], false);
    for (let i = 0; i < MAX_CELLS + 50; i++) metrics.record(facts({ api: `api-${i}` }));
    const points = ((await metricsOf(metrics)).get("http.server.request.duration") as HistogramMetricData).dataPoints;
    assert.equal(points.length, MAX_CELLS + 1);
    const overflow = points.find((p) => p.attributes["otel.metric.overflow"] === true)!;
    assert.equal(overflow.value.count, 50);
  });

  it("reports requests in flight and backend failures by cause", async () => {
    const metrics = new RequestMetrics([1], false);
    metrics.active = 3;
    metrics.upstreamFailed("orders", "refused");
    metrics.upstreamFailed("orders", "refused");
    metrics.upstreamFailed("orders", "timeout");
    const all = await metricsOf(metrics);
    assert.equal((all.get("http.server.active_requests") as SumMetricData).dataPoints[0]!.value, 3);
    const errors = (all.get("portico.upstream.errors") as SumMetricData).dataPoints.map((p) => [p.attributes["error.type"], p.value]);
    assert.deepEqual(errors, [["refused", 2], ["timeout", 1]]);
  });
});

describe("upstreamErrorCause", () => {
  it("reads the cause from the error and its causes, as Node, undici, Bun and Deno word them", () => {
    const coded = (code: string) => Object.assign(new Error("x"), { code });
    assert.equal(upstreamErrorCause(new TypeError("fetch failed", { cause: coded("ECONNREFUSED") })), "refused");
    assert.equal(upstreamErrorCause(new Error("Unable to connect. Is the computer able to access the url?", { cause: coded("ConnectionRefused") })), "refused");
    assert.equal(upstreamErrorCause(new TypeError("error sending request: tcp connect error: Connection refused (os error 111)")), "refused");
    assert.equal(upstreamErrorCause(coded("ENOTFOUND")), "dns");
    assert.equal(upstreamErrorCause(coded("UNABLE_TO_VERIFY_LEAF_SIGNATURE")), "tls");
    assert.equal(upstreamErrorCause(new TypeError("client error (Connect): invalid peer certificate: UnknownIssuer")), "tls");
    assert.equal(upstreamErrorCause(coded("CERT_HAS_EXPIRED")), "tls");
    assert.equal(upstreamErrorCause(coded("ECONNRESET")), "reset");
    assert.equal(upstreamErrorCause(new Error("something else")), "other");
  });
});
