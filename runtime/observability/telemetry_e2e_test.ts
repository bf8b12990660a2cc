import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort, type GatewayProcess, startGatewayProcess, tempDir } from "../../test/harness.ts";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "../../test/otlp-receiver.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

/** SpanKind numbers of OTLP. */
const SERVER = 2;
const CLIENT = 3;

/** Access lines of a gateway's output, parsed. */
function accessLines(gw: GatewayProcess): Record<string, unknown>[] {
  return gw.output().split("\n").filter((line) => line.includes('"level":"access"')).map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The SERVER span of a trace and its CLIENT child, once both arrived. */
function pair(spans: ReceivedSpan[], traceId: string): { server?: ReceivedSpan; client?: ReceivedSpan } {
  const inTrace = spans.filter((s) => s.traceId === traceId);
  return { server: inTrace.find((s) => s.kind === SERVER), client: inTrace.find((s) => s.kind === CLIENT) };
}

describe("telemetry over OTLP: traces, metrics and access lines", () => {
  let receiver: OtlpReceiver;
  let backend: Upstream;
  let gw: GatewayProcess;
  const traceparents: string[] = [];

  before(async () => {
    receiver = await startOtlpReceiver();
    backend = await startUpstream((req, res) => {
      req.resume();
      traceparents.push(String(req.headers.traceparent ?? ""));
      res.writeHead(200, { "content-type": "text/plain", "content-length": "2" });
      res.end("ok");
    });
    const closed = await freePort();
    gw = await startGatewayProcess({
      config: `
apis:
  - name: orders
    path: /orders
    backend: orders
    operations:
      - { name: get-order, method: GET, url: "/{id}" }
  - { name: down, path: /down, backend: down }
  - name: guarded
    path: /guarded
    backend: orders
    policies:
      inbound:
        - { policy: check-header, with: { name: x-key, values: ["1"], failed-check-httpcode: 401 } }
        - policy: validate-jwt
          with:
            header-name: authorization
            issuer-signing-keys: [{ value: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYnl0ZXM=", id: k1 }]
backends:
  orders: { urls: ["${backend.url}"] }
  down: { urls: ["http://127.0.0.1:${closed}"], timeout: 2s }
`,
      env: {
        PORTICO_TELEMETRY_OTLP_ENDPOINT: receiver.url,
        PORTICO_TELEMETRY_OTLP_SPOOL_PATH: join(tempDir(), "spool"),
        PORTICO_TELEMETRY_METRICS_EXPORT_INTERVAL: "500ms",
        PORTICO_TELEMETRY_TRACES_RESPONSE_HEADER: "trace-id",
        PORTICO_TELEMETRY_LOGS_OTLP_ENABLED: "true",
        OTEL_BSP_SCHEDULE_DELAY: "100",
        OTEL_BLRP_SCHEDULE_DELAY: "100",
        OTEL_SERVICE_NAME: "edge-test",
        // Deno's own telemetry takes the global providers; Portico uses its own instances, so its spans still arrive (no effect on Bun and Node).
        OTEL_DENO: "true",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test",
      },
    });
  });

  after(async () => {
    await gw?.stop();
    await backend?.close();
    await receiver?.stop();
  });

  it("makes a SERVER span and its CLIENT child in one trace, and sends the backend a traceparent naming the CLIENT span", async () => {
    const res = await fetch(`${gw.url}/orders/42`, { headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } });
    assert.equal(res.status, 200);
    await res.text();
    const traceId = res.headers.get("trace-id");
    assert.match(traceId ?? "", /^[0-9a-f]{32}$/);
    // The client's traceparent is not trusted by default: the gateway starts its own trace.
    assert.notEqual(traceId, "0af7651916cd43dd8448eb211c80319c");
    await receiver.waitFor(() => pair(receiver.spans(), traceId!).client !== undefined && pair(receiver.spans(), traceId!).server !== undefined, "both spans");
    const { server, client } = pair(receiver.spans(), traceId!);
    assert.equal(client!.parentSpanId, server!.spanId);
    assert.equal(server!.parentSpanId, "");
    assert.equal(server!.name, "GET orders get-order");
    assert.equal(server!.attributes["api"], "orders");
    assert.equal(server!.attributes["operation"], "get-order");
    assert.equal(server!.attributes["http.response.status_code"], 200);
    assert.equal(client!.attributes["backend"], "orders");
    assert.equal(client!.attributes["server.address"], "127.0.0.1");
    assert.equal(client!.attributes["server.port"], backend.port);
    assert.equal(server!.resource["service.name"], "edge-test");
    assert.equal(server!.resource["deployment.environment"], "test");
    assert.equal(traceparents.at(-1), `00-${traceId}-${client!.spanId}-01`);
  });

  it("writes the trace id, the request id, the client, the backend and the durations in the access line", async () => {
    const res = await fetch(`${gw.url}/orders/7`);
    await res.text();
    const traceId = res.headers.get("trace-id")!;
    await gw.waitForOutput(new RegExp(`"traceId":"${traceId}"`));
    const line = accessLines(gw).find((l) => l.traceId === traceId)!;
    assert.equal(line.api, "orders");
    assert.equal(line.operation, "get-order");
    assert.equal(line.status, 200);
    assert.equal(line.clientIp, "127.0.0.1");
    assert.equal(line.method, "GET");
    assert.equal(line.path, "/orders/7");
    assert.equal(line.scheme, "http");
    assert.equal(line.backend, new URL(backend.url).host);
    assert.equal(line.bytesOut, 2);
    assert.equal(typeof line.requestId, "string");
    assert.ok(typeof line.backendMs === "number" && typeof line.gatewayMs === "number" && typeof line.ms === "number");
    assert.ok((line.ms as number) >= (line.backendMs as number));
  });

  it("sends the access line as an OTLP log record in the request's trace", async () => {
    const res = await fetch(`${gw.url}/orders/9`);
    await res.text();
    const traceId = res.headers.get("trace-id")!;
    await receiver.waitFor(() => receiver.logRecords().some((r) => r.traceId === traceId), "the access log record");
    await receiver.waitFor(() => pair(receiver.spans(), traceId).server !== undefined, "the request's SERVER span");
    const record = receiver.logRecords().find((r) => r.traceId === traceId)!;
    assert.equal(record.body, "request");
    assert.equal(record.severityText, "ACCESS");
    assert.equal(record.attributes.api, "orders");
    assert.equal(record.attributes.status, 200);
    assert.equal(record.spanId, pair(receiver.spans(), traceId).server!.spanId);
  });

  it("puts the trace id in problem bodies, and marks the CLIENT span of a refused backend call with its cause", async () => {
    const res = await fetch(`${gw.url}/down/x`);
    assert.equal(res.status, 502);
    const body = await res.json() as { traceId?: string };
    assert.equal(body.traceId, res.headers.get("trace-id"));
    await receiver.waitFor(() => pair(receiver.spans(), body.traceId!).client !== undefined, "the failed call's CLIENT span");
    const { client } = pair(receiver.spans(), body.traceId!);
    assert.equal(client!.attributes["error.type"], "refused");
  });

  it("puts the trace id in the problems policies answer with: a WebAssembly policy's and validate-jwt's", async () => {
    const rejected = await fetch(`${gw.url}/guarded/a`);
    assert.equal(rejected.status, 401);
    const problem = await rejected.json() as { type: string; traceId?: string };
    assert.equal(problem.type, "urn:portico:problem:policy-rejected");
    assert.equal(problem.traceId, rejected.headers.get("trace-id"));
    const unauthorized = await fetch(`${gw.url}/guarded/a`, { headers: { "x-key": "1" } });
    assert.equal(unauthorized.status, 401);
    const refusal = await unauthorized.json() as { traceId?: string };
    assert.match(refusal.traceId ?? "", /^[0-9a-f]{32}$/);
    assert.equal(refusal.traceId, unauthorized.headers.get("trace-id"));
  });

  it("exports the request duration histogram with api, operation, backend and status, and counts refused backend calls", async () => {
    await receiver.waitFor(
      () =>
        receiver.dataPoints("http.server.request.duration").some((p) =>
          p.attributes.api === "orders" && p.attributes.operation === "get-order" && p.attributes.backend === "orders" &&
          p.attributes["http.response.status_code"] === 200 && (p.count ?? 0) >= 2
        ),
      "the request duration histogram",
    );
    await receiver.waitFor(
      () => receiver.dataPoints("portico.upstream.errors").some((p) => p.attributes.backend === "down" && p.attributes["error.type"] === "refused"),
      "the upstream error counter",
    );
    assert.ok(receiver.dataPoints("portico.backend.duration_seconds").some((p) => p.attributes.api === "orders"));
    assert.ok(receiver.dataPoints("portico.gateway.duration_seconds").some((p) => p.attributes.api === "orders"));
  });
});

describe("telemetry: a trusted client's trace", () => {
  let receiver: OtlpReceiver;
  let backend: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    receiver = await startOtlpReceiver();
    backend = await startUpstream();
    gw = await startGatewayProcess({
      config: `
apis:
  - { name: echo, path: /echo, backend: echo }
backends:
  echo: { urls: ["${backend.url}"] }
`,
      env: {
        PORTICO_TELEMETRY_OTLP_ENDPOINT: receiver.url,
        PORTICO_TELEMETRY_OTLP_SPOOL_PATH: join(tempDir(), "spool"),
        PORTICO_TELEMETRY_TRACES_TRUST_PARENT: "true",
        PORTICO_TELEMETRY_TRACES_SAMPLING: "0",
        OTEL_BSP_SCHEDULE_DELAY: "100",
      },
    });
  });

  after(async () => {
    await gw?.stop();
    await backend?.close();
    await receiver?.stop();
  });

  it("continues it (parent-based sampling follows the client's sampled flag even at ratio 0)", async () => {
    const res = await fetch(`${gw.url}/echo/a`, { headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } });
    await res.text();
    await receiver.waitFor(() => pair(receiver.spans(), "0af7651916cd43dd8448eb211c80319c").server !== undefined, "the continued trace");
    const { server } = pair(receiver.spans(), "0af7651916cd43dd8448eb211c80319c");
    assert.equal(server!.parentSpanId, "b7ad6b7169203331");
    // Not sampled by the client, and ratio 0: nothing recorded, yet the backend still gets the trace's id.
    const unsampled = await fetch(`${gw.url}/echo/b`, { headers: { traceparent: "00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00" } });
    await unsampled.text();
    const seen = backend.seen.at(-1)!;
    assert.match(String(seen.headers.traceparent), /^00-1af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-00$/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(receiver.spans().filter((s) => s.traceId === "1af7651916cd43dd8448eb211c80319c").length, 0);
  });
});

describe("telemetry: the spool while the collector is away", () => {
  let receiver: OtlpReceiver;
  let backend: Upstream;
  let gw: GatewayProcess | undefined;

  before(async () => {
    receiver = await startOtlpReceiver();
    backend = await startUpstream();
  });

  after(async () => {
    await gw?.stop();
    await backend?.close();
    await receiver?.stop();
  });

  it("keeps spans on disk across a gateway restart and delivers every one exactly once when the collector is back", async () => {
    const config = `
apis:
  - { name: echo, path: /echo, backend: echo }
backends:
  echo: { urls: ["${backend.url}"] }
`;
    const env = {
      PORTICO_TELEMETRY_OTLP_ENDPOINT: receiver.url,
      PORTICO_TELEMETRY_OTLP_SPOOL_PATH: join(tempDir(), "spool"),
      PORTICO_TELEMETRY_TRACES_RESPONSE_HEADER: "trace-id",
      OTEL_BSP_SCHEDULE_DELAY: "100",
    };
    gw = await startGatewayProcess({ config, env });
    await receiver.stop();
    const traceIds: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${gw.url}/echo/${i}`);
      await res.text();
      traceIds.push(res.headers.get("trace-id")!);
    }
    // Batches leave the span processor within its 100 ms delay; the stop flushes whatever is left.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const first = gw;
    await first.stop();
    assert.match(first.output(), /the OTLP endpoint is not taking telemetry; batches are spooled to disk/);
    gw = await startGatewayProcess({ config, env });
    await receiver.start();
    await receiver.waitFor(
      () => traceIds.every((id) => pair(receiver.spans(), id).server !== undefined && pair(receiver.spans(), id).client !== undefined),
      "every spooled span",
      30_000,
    );
    const spans = receiver.spans().filter((s) => traceIds.includes(s.traceId));
    assert.equal(spans.length, 10, "one SERVER and one CLIENT span per request, none twice");
    assert.equal(new Set(spans.map((s) => s.spanId)).size, 10);
  });
});
