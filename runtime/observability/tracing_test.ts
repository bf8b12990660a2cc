import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { AlwaysOffSampler, ParentBasedSampler, type ReadableSpan, type SpanProcessor, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace";
import { Tracing } from "./tracing.ts";

/** A processor that keeps every span it is handed. */
function keeper(): SpanProcessor & { spans: ReadableSpan[] } {
  const spans: ReadableSpan[] = [];
  return {
    spans,
    onStart: () => {},
    onEnd: (span) => void spans.push(span),
    forceFlush: async () => {},
    shutdown: async () => {},
  };
}

const resource = resourceFromAttributes({ "service.name": "portico-test" });
const origin = { hostname: "10.0.0.7", port: 9000 };

function tracing(ratio: number, processor: SpanProcessor | undefined, trustParent = false): Tracing {
  return new Tracing(
    { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }), processor, resource, scope: { name: "portico", version: "9.9.9" } },
    { trustParent, responseHeader: undefined },
  );
}

/** One request through a trace: routed, a backend call answering `backendStatus`, the client answered `status`. */
function request(t: Tracing, headers = new Headers(), backendStatus = 200, status = 200) {
  const trace = t.start("GET", headers, "https", "api.example:8443", "/orders/7", "192.0.2.1");
  trace.routed("GET", "orders", "get-order", "gold");
  trace.event("policies.inbound");
  const sent = new Headers({ tracestate: "from=client" });
  trace.startBackend("GET", "orders-backend", origin, sent);
  trace.endBackend(backendStatus);
  trace.end(status);
  return { trace, sent };
}

describe("Tracing", () => {
  it("records a sampled SERVER span and its CLIENT child, and names the CLIENT span in traceparent", () => {
    const processor = keeper();
    const before = Date.now();
    const { trace, sent } = request(tracing(1, processor), undefined, 503, 502);
    const after = Date.now();
    assert.match(trace.traceId, /^[0-9a-f]{32}$/);
    assert.match(trace.spanId, /^[0-9a-f]{16}$/);
    assert.equal(processor.spans.length, 2);
    const [client, server] = processor.spans as [ReadableSpan, ReadableSpan];
    assert.equal(server.kind, SpanKind.SERVER);
    assert.equal(server.name, "GET orders get-order");
    assert.equal(server.spanContext().traceId, trace.traceId);
    assert.equal(server.spanContext().spanId, trace.spanId);
    assert.equal(server.parentSpanContext, undefined);
    assert.deepEqual(server.attributes, {
      "http.request.method": "GET",
      "url.scheme": "https",
      "server.address": "api.example:8443",
      "url.path": "/orders/7",
      "client.address": "192.0.2.1",
      api: "orders",
      operation: "get-order",
      product: "gold",
      "http.response.status_code": 502,
    });
    assert.equal(server.status.code, SpanStatusCode.ERROR);
    assert.deepEqual(server.events.map((e) => e.name), ["policies.inbound"]);
    assert.equal(client.kind, SpanKind.CLIENT);
    assert.equal(client.spanContext().traceId, trace.traceId);
    assert.equal(client.parentSpanContext?.spanId, trace.spanId);
    assert.deepEqual(client.attributes, {
      "http.request.method": "GET",
      "server.address": "10.0.0.7",
      "server.port": 9000,
      backend: "orders-backend",
      "http.response.status_code": 503,
    });
    assert.equal(sent.get("traceparent"), `00-${trace.traceId}-${client.spanContext().spanId}-01`);
    assert.equal(sent.get("tracestate"), null, "a client's tracestate is not passed on when its trace is not continued");
    for (const span of [client, server]) {
      assert.equal(span.ended, true);
      assert.equal(span.resource, resource);
      assert.deepEqual(span.instrumentationScope, { name: "portico", version: "9.9.9" });
      const start = span.startTime[0] * 1000 + span.startTime[1] / 1e6;
      const end = span.endTime[0] * 1000 + span.endTime[1] / 1e6;
      assert.ok(start >= before - 5 && end <= after + 5 && end >= start, `times within the request: ${start}..${end} in ${before}..${after}`);
      assert.ok(span.startTime[1] >= 0 && span.startTime[1] < 1e9 && span.endTime[1] < 1e9);
      assert.ok(Math.abs(span.duration[0] * 1000 + span.duration[1] / 1e6 - (end - start)) < 0.01);
    }
    // The SDK's own OTLP serializer takes the spans as they are.
    assert.ok(ProtobufTraceSerializer.serializeRequest(processor.spans)!.length > 200);
  });

  it("marks a failed backend call with its error, and a span left open as abandoned", () => {
    const processor = keeper();
    const t = tracing(1, processor);
    const failed = t.start("POST", new Headers(), "http", "h", "/", "192.0.2.1");
    failed.startBackend("POST", "b", origin, new Headers());
    failed.endBackend(undefined, "timeout");
    failed.end(504);
    const open = t.start("GET", new Headers(), "http", "h", "/", "192.0.2.1");
    open.startBackend("GET", "b", origin, new Headers());
    open.end(499);
    const clients = processor.spans.filter((s) => s.kind === SpanKind.CLIENT);
    assert.deepEqual(clients.map((s) => [s.attributes["error.type"], s.status.code, s.status.message]), [
      ["timeout", SpanStatusCode.ERROR, "timeout"],
      ["abandoned", SpanStatusCode.ERROR, "abandoned"],
    ]);
    assert.equal(processor.spans.length, 4);
  });

  it("records nothing for a request that is not sampled, yet gives it ids and an unsampled traceparent", () => {
    const processor = keeper();
    const { trace, sent } = request(tracing(0, processor));
    assert.equal(processor.spans.length, 0);
    assert.match(trace.traceId, /^[0-9a-f]{32}$/);
    assert.match(sent.get("traceparent")!, new RegExp(`^00-${trace.traceId}-[0-9a-f]{16}-00$`));
    assert.notEqual(sent.get("traceparent")!.slice(36, 52), trace.spanId, "the CLIENT span has its own id");
  });

  it("samples about the configured ratio of new traces", () => {
    const processor = keeper();
    const t = tracing(0.25, processor);
    for (let i = 0; i < 4000; i++) t.start("GET", new Headers(), "http", "h", "/", "192.0.2.1").end(200);
    assert.ok(processor.spans.length > 800 && processor.spans.length < 1200, `${processor.spans.length} of 4000`);
  });

  it("without a processor (a trace id for the response header only) records nothing", () => {
    const t = new Tracing({ sampler: new AlwaysOffSampler(), processor: undefined, resource, scope: { name: "portico" } }, {
      trustParent: false,
      responseHeader: "x-trace-id",
    });
    const { trace, sent } = request(t);
    assert.match(trace.traceId, /^[0-9a-f]{32}$/);
    assert.ok(sent.get("traceparent")!.endsWith("-00"));
  });

  it("continues a trusted client's trace, its sampling decision and its tracestate; ignores it when not trusted", () => {
    const parentId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parentSpan = "00f067aa0ba902b7";
    const sampledParent = new Headers({ traceparent: `00-${parentId}-${parentSpan}-01`, tracestate: "vendor=abc" });
    const processor = keeper();
    const { trace, sent } = request(tracing(0, processor, true), sampledParent);
    assert.equal(trace.traceId, parentId);
    assert.equal(processor.spans.length, 2, "a sampled parent is followed even at ratio 0");
    const server = processor.spans.find((s) => s.kind === SpanKind.SERVER)!;
    assert.equal(server.parentSpanContext?.spanId, parentSpan);
    assert.equal(server.parentSpanContext?.isRemote, true);
    assert.equal(sent.get("tracestate"), "vendor=abc");
    assert.ok(sent.get("traceparent")!.startsWith(`00-${parentId}-`));

    const unsampledParent = new Headers({ traceparent: `00-${parentId}-${parentSpan}-00` });
    const none = keeper();
    const followed = request(tracing(1, none, true), unsampledParent);
    assert.equal(followed.trace.traceId, parentId);
    assert.equal(none.spans.length, 0, "an unsampled parent is followed even at ratio 1");

    const untrusted = request(tracing(1, keeper(), false), sampledParent);
    assert.notEqual(untrusted.trace.traceId, parentId);
    assert.equal(untrusted.sent.get("tracestate"), null);
  });
});
