import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SeverityNumber } from "@opentelemetry/api-logs";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { context, SpanKind, trace } from "@opentelemetry/api";
import { freePort, ROOT, scriptCommand } from "../../../test/harness.ts";
import { OtlpReceiver } from "../../../test/otlp-receiver.ts";
import { createOtlpExporters, type OtlpEvent, type OtlpExporters, type OtlpOptions } from "./exporters.ts";

const SECRET = "s3cr3t-otlp-token-value";

/** The real SDK providers over an exporter set; every span, log record and flush is one batch. */
function telemetry(exporters: OtlpExporters) {
  const resource = resourceFromAttributes({ "service.name": "portico-test", "deployment.environment.name": "test" });
  const tracerProvider = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter: exporters.spans })] });
  const reader = new PeriodicExportingMetricReader({ exporter: exporters.metrics, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ resource, readers: [reader] });
  const loggerProvider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: exporters.logs })] });
  return {
    tracer: tracerProvider.getTracer("portico-test"),
    meter: meterProvider.getMeter("portico-test"),
    logger: loggerProvider.getLogger("portico-test"),
    // The simple processors' forceFlush rejects when an export failed; the tests check outcomes
    // through the receiver, the stats and the events instead.
    flush: async () => {
      await tracerProvider.forceFlush().catch(() => {});
      await meterProvider.forceFlush().catch(() => {});
      await loggerProvider.forceFlush().catch(() => {});
    },
    shutdown: async () => {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
      await loggerProvider.shutdown();
      await exporters.shutdown();
    },
  };
}

/** Ends `count` root spans named `span-00`, `span-01`, ..., one export batch each. */
function spans(tracer: ReturnType<typeof telemetry>["tracer"], count: number, from = 0): void {
  for (let i = from; i < from + count; i++) {
    tracer.startSpan(`span-${String(i).padStart(2, "0")}`, { attributes: { "padding": "x".repeat(200), "index": i } }).end();
  }
}

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

describe("OTLP exporters against a receiver over loopback", () => {
  let receiver: OtlpReceiver;
  let root: string;
  let n = 0;
  before(async () => {
    receiver = new OtlpReceiver();
    await receiver.start();
    root = await mkdtemp(join(tmpdir(), "portico-otlp-"));
  });
  after(async () => {
    await receiver.stop();
    await rm(root, { recursive: true, force: true });
  });

  function options(overrides: Partial<OtlpOptions> & { events?: OtlpEvent[] } = {}): OtlpOptions {
    const events = overrides.events;
    return {
      endpoint: receiver.url,
      protocol: "http/protobuf",
      headers: { authorization: `Bearer ${SECRET}` },
      timeoutMs: 2_000,
      spool: { path: join(root, `spool-${++n}`), maxBytes: 1_000_000, replayMinMs: 50, replayMaxMs: 200 },
      onEvent: events === undefined ? undefined : (event) => events.push(event),
      ...overrides,
    };
  }

  for (const protocol of ["http/protobuf", "http/json"] as const) {
    it(`delivers spans, metric points and log records decoded (${protocol}), with the headers`, async () => {
      await receiver.setMode("ok");
      receiver.clear();
      const sdk = telemetry(createOtlpExporters(options({ protocol })));
      const server = sdk.tracer.startSpan("GET /echo", { kind: SpanKind.SERVER, attributes: { "http.request.method": "GET", "api": "echo" } });
      const client = sdk.tracer.startSpan("GET", { kind: SpanKind.CLIENT, attributes: { "server.port": 8080 } }, trace.setSpan(context.active(), server));
      client.end();
      server.end();
      const histogram = sdk.meter.createHistogram("http.server.request.duration", { unit: "s" });
      histogram.record(0.25, { api: "echo", "http.response.status_code": 200 });
      histogram.record(0.75, { api: "echo", "http.response.status_code": 200 });
      sdk.meter.createCounter("portico.requests").add(3, { api: "echo" });
      sdk.logger.emit({
        body: "access",
        severityNumber: SeverityNumber.INFO,
        severityText: "INFO",
        attributes: { status: 200 },
        context: trace.setSpan(context.active(), server),
      });
      // Shutting the providers down exports what they hold: one batch per span and log record, one of metrics.
      await sdk.shutdown();

      const encoding = protocol === "http/json" ? "json" : "protobuf";
      assert.deepEqual(new Set(receiver.requests.map((request) => request.encoding)), new Set([encoding]));
      assert.ok(receiver.requests.every((request) => request.headers.authorization === `Bearer ${SECRET}`));
      const received = receiver.spans();
      assert.equal(received.length, 2);
      const [clientSpan, serverSpan] = received;
      assert.equal(serverSpan.name, "GET /echo");
      assert.equal(serverSpan.kind, 2);
      assert.equal(serverSpan.traceId, server.spanContext().traceId);
      assert.equal(serverSpan.spanId, server.spanContext().spanId);
      assert.equal(serverSpan.parentSpanId, "");
      assert.deepEqual(serverSpan.attributes, { "http.request.method": "GET", api: "echo" });
      assert.equal(serverSpan.resource["service.name"], "portico-test");
      assert.equal(clientSpan.kind, 3);
      assert.equal(clientSpan.traceId, serverSpan.traceId);
      assert.equal(clientSpan.parentSpanId, serverSpan.spanId);
      assert.equal(clientSpan.spanId, client.spanContext().spanId);
      assert.deepEqual(clientSpan.attributes, { "server.port": 8080 });
      assert.match(clientSpan.traceId, /^[0-9a-f]{32}$/);

      const durations = receiver.dataPoints("http.server.request.duration");
      assert.equal(durations.length, 1);
      assert.equal(durations[0].type, "histogram");
      assert.deepEqual(durations[0].attributes, { api: "echo", "http.response.status_code": 200 });
      assert.equal(durations[0].count, 2);
      assert.equal(durations[0].sum, 1);
      const counts = receiver.dataPoints("portico.requests");
      assert.deepEqual(counts.map((point) => [point.type, point.value, point.attributes]), [["sum", 3, { api: "echo" }]]);

      const logs = receiver.logRecords();
      assert.equal(logs.length, 1);
      assert.equal(logs[0].body, "access");
      assert.equal(logs[0].severityNumber, SeverityNumber.INFO);
      assert.deepEqual(logs[0].attributes, { status: 200 });
      assert.equal(logs[0].traceId, serverSpan.traceId);
      assert.equal(logs[0].spanId, serverSpan.spanId);
    });
  }

  it("spools while the receiver is down; a new exporter set on the same spool replays every span once, in order", async () => {
    receiver.clear();
    await receiver.setMode("down");
    const events: OtlpEvent[] = [];
    const first = options({ events });
    const exporters = createOtlpExporters(first);
    const sdk = telemetry(exporters);
    spans(sdk.tracer, 10);
    sdk.logger.emit({ body: "while down" });
    await sdk.flush();
    // No instrument recorded anything, so the metric reader sends nothing.
    assert.equal(exporters.stats().spooledBatches, 11, "10 span batches, 1 log batch");
    assert.equal((await files(join(first.spool!.path, "traces"))).length, 10);
    assert.deepEqual((await files(join(first.spool!.path, "traces"))).map((name) => /^\d{16}\.pb$/.test(name)), Array(10).fill(true));
    const spooled = events.filter((event) => event.type === "spooled" && event.signal === "traces");
    assert.equal(spooled.length, 10);
    assert.match((spooled[0] as { reason: string }).reason, /request failed/);
    assert.equal((spooled[1] as { reason: string }).reason, "older batches are waiting in the spool");
    // The process "stops": providers and exporters shut down, the spool stays on disk.
    await sdk.shutdown();
    assert.equal(receiver.requests.length, 0);

    await receiver.setMode("ok");
    const replayEvents: OtlpEvent[] = [];
    const restarted = createOtlpExporters({ ...first, onEvent: (event) => replayEvents.push(event) });
    await receiver.waitFor(() => receiver.spans().length >= 10 && receiver.logRecords().length >= 1, "the spooled spans and log record");
    // Give a duplicate the time to arrive, if one were sent.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const names = receiver.spans().map((span) => span.name);
    assert.deepEqual(names, Array.from({ length: 10 }, (_, i) => `span-${String(i).padStart(2, "0")}`));
    assert.equal(new Set(receiver.spans().map((span) => span.spanId)).size, 10);
    assert.deepEqual(receiver.logRecords().map((log) => log.body), ["while down"]);
    assert.deepEqual(restarted.stats(), { spooledBytes: 0, spooledBatches: 0, dropped: 0, replayed: 11, failures: 0 });
    assert.deepEqual(await files(join(first.spool!.path, "traces")), []);
    const replayed = replayEvents.filter((event) => event.type === "replayed").reduce((sum, event) => sum + (event as { batches: number }).batches, 0);
    assert.equal(replayed, 11);
    await restarted.shutdown();
  });

  it("keeps new batches behind spooled ones while the receiver answers 503 (JSON), then replays them in order", async () => {
    receiver.clear();
    await receiver.setMode({ status: 503 });
    const exporters = createOtlpExporters(options({ protocol: "http/json" }));
    const sdk = telemetry(exporters);
    spans(sdk.tracer, 3);
    await sdk.flush();
    assert.ok(receiver.refused.length >= 1, "the first batch reached the receiver and was refused");
    assert.equal(exporters.stats().spooledBatches >= 3, true);
    await receiver.setMode("ok");
    spans(sdk.tracer, 2, 3);
    await sdk.flush();
    await receiver.waitFor(() => receiver.spans().length >= 5, "five spans");
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(receiver.spans().map((span) => span.name), ["span-00", "span-01", "span-02", "span-03", "span-04"]);
    assert.ok(
      receiver.requests.every((request) => request.encoding === "json"),
      JSON.stringify(receiver.requests.map((request) => [request.signal, request.encoding, request.body])),
    );
    assert.ok(exporters.stats().failures >= 1);
    await sdk.shutdown();
  });

  it("bounds the spool: the oldest batches are deleted first and counted as dropped", async () => {
    receiver.clear();
    await receiver.setMode("down");
    const events: OtlpEvent[] = [];
    const config = options({ events });
    config.spool!.maxBytes = 2_000;
    const exporters = createOtlpExporters(config);
    const sdk = telemetry(exporters);
    spans(sdk.tracer, 10);
    await sdk.flush();
    const stats = exporters.stats();
    assert.ok(stats.spooledBytes <= 2_000, `held ${stats.spooledBytes} bytes`);
    const kept = (await files(join(config.spool!.path, "traces"))).length;
    assert.ok(kept >= 1 && kept < 10, `kept ${kept} span batches`);
    assert.equal(kept + stats.dropped, 10, "every span batch is either kept or counted as dropped");
    const dropEvents = events.filter((event) => event.type === "dropped");
    assert.ok(dropEvents.every((event) => event.signal === "traces" && event.reason === "spool full: oldest batches deleted"));
    assert.equal(dropEvents.reduce((sum, event) => sum + (event as { batches: number }).batches, 0), stats.dropped);
    await sdk.shutdown();

    await receiver.setMode("ok");
    const restarted = createOtlpExporters({ ...config, onEvent: undefined });
    await receiver.waitFor(() => receiver.spans().length >= kept, "the replay");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const expected = Array.from({ length: 10 }, (_, i) => `span-${String(i).padStart(2, "0")}`).slice(10 - kept);
    assert.deepEqual(receiver.spans().map((span) => span.name), expected, "the newest batches survive, in order");
    await restarted.shutdown();
  });

  it("drops a batch the receiver refuses with 400, directly and on replay, and counts it", async () => {
    receiver.clear();
    await receiver.setMode({ status: 400 });
    const events: OtlpEvent[] = [];
    const config = options({ events });
    const exporters = createOtlpExporters(config);
    const sdk = telemetry(exporters);
    spans(sdk.tracer, 1);
    await sdk.flush();
    assert.equal(exporters.stats().spooledBatches, 0);
    assert.ok(events.some((event) => event.type === "dropped" && event.signal === "traces" && event.reason === "refused: status 400"));

    await receiver.setMode("down");
    spans(sdk.tracer, 2, 1);
    await sdk.flush();
    const droppedBefore = exporters.stats().dropped;
    assert.equal(exporters.stats().spooledBatches >= 2, true);
    await receiver.setMode({ status: 400 });
    await receiver.waitFor(() => exporters.stats().spooledBatches === 0, "the refused replay");
    assert.ok(exporters.stats().dropped >= droppedBefore + 2);
    assert.ok(events.some((event) => event.type === "dropped" && event.reason === "refused on replay: status 400"));
    assert.deepEqual(await files(join(config.spool!.path, "traces")), []);
    assert.equal(receiver.spans().length, 0);
    await sdk.shutdown();
  });

  it("never puts a header value in an event, whether the receiver is down or fetch refuses the header", async () => {
    receiver.clear();
    await receiver.setMode("down");
    const events: OtlpEvent[] = [];
    const down = createOtlpExporters(options({ events }));
    const sdk = telemetry(down);
    spans(sdk.tracer, 2);
    await sdk.flush();
    await sdk.shutdown();
    await receiver.setMode({ status: 503 });
    const bad = createOtlpExporters(options({ events, headers: { authorization: `Bearer ${SECRET}`, "x-bad": `${SECRET}\r\nInjected: 1` }, spool: undefined }));
    const badSdk = telemetry(bad);
    spans(badSdk.tracer, 1);
    await badSdk.flush();
    await badSdk.shutdown();
    assert.ok(events.some((event) => event.type === "failed"));
    assert.ok(events.length >= 3);
    assert.ok(!JSON.stringify(events).includes(SECRET), JSON.stringify(events));
  });

  it("lets a process with batches waiting in the spool exit on its own (the replay timer is unref'd)", async () => {
    const path = join(root, "exit-check");
    const [command, ...args] = scriptCommand(fileURLToPath(new URL("./fixtures/spool-and-exit.ts", import.meta.url)));
    const child = spawn(command, [...args, `http://127.0.0.1:${await freePort()}`, path], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (chunk) => out += chunk);
    child.stderr!.on("data", (chunk) => err += chunk);
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const code = await new Promise<number | null>((resolve) => child.on("exit", (exitCode) => resolve(exitCode)));
    clearTimeout(timer);
    assert.equal(code, 0, `the child did not exit by itself (code ${code}); stderr: ${err}`);
    const stats = JSON.parse(out.trim().split("\n").at(-1)!);
    assert.deepEqual({ ...stats, spooledBytes: stats.spooledBytes > 0 }, { spooledBytes: true, spooledBatches: 1, dropped: 0, replayed: 0, failures: 1 });
    assert.equal((await files(join(path, "traces"))).length, 1);
  });
});
