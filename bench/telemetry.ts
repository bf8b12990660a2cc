#!/usr/bin/env bun
/**
 * What telemetry costs per request on Bun: `bun bench/telemetry.ts [--rounds 3] [--duration 8] [--warmup 2]`.
 *
 * One gateway on Bun (pinned, `wrk -t1 -c32`, one API, no policies), four arms alternating
 * `--rounds` times in one run:
 * - "off": no OTLP endpoint and no access log (`telemetry.logs.std: none`); the request metrics
 *   that `/metrics` serves are always counted (they cannot be switched off);
 * - "access log": the shipped default, a JSON access line per request (to a file);
 * - "all on, 100 %": the access log, plus OTLP export of traces (every request sampled: a SERVER
 *   and a CLIENT span), metrics every 10 s and log records off, to an OTLP/HTTP sink in this
 *   process that answers 200 to everything;
 * - "all on, 1 %": the same with `telemetry.traces.sampling: 0.01`.
 * The cost of an arm is its median rps against "off" (and the cost per request in µs).
 * Targets (issue 14, docs/design/performance.md): all on at 100 % within 10 % of off, at 1 % within 5 %.
 * Prints Markdown; asserts nothing.
 */
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { alternateArms, comparedRows, type GatewayArm } from "./lib/alternate.ts";
import { benchHeader, openBench } from "./lib/context.ts";
import { wholeNumber } from "./lib/options.ts";
import { installCleanup, runMain, stopAll } from "./lib/procs.ts";
import { median, table } from "./lib/report.ts";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, ParentBasedSampler, type ReadableSpan, TraceIdRatioBasedSampler, TracerProvider } from "@opentelemetry/sdk-trace";
import { defaultTextMapSetter, ROOT_CONTEXT, SpanKind, trace, type Tracer } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { createLogger } from "../runtime/observability/log.ts";
import { requestIds, RequestRecord } from "../runtime/observability/request-record.ts";
import { RequestMetrics } from "../runtime/observability/request-metrics.ts";
import { Tracing } from "../runtime/observability/tracing.ts";

/** µs per call of `run`, median of 9 batches of `calls` after 3 warm-up batches, with a macrotask turn between batches (timers and batched writes run). */
async function perCall(run: () => void, calls = 20_000): Promise<number> {
  const samples: number[] = [];
  for (let b = 0; b < 12; b++) {
    const started = performance.now();
    for (let i = 0; i < calls; i++) run();
    const elapsed = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (b >= 3) samples.push((elapsed * 1000) / calls);
  }
  return median(samples);
}

/**
 * CPU of the whole process (every thread: the writes run off the main one) per access line, minus
 * the same pacing loop without lines: a gateway's rate of 25 lines per millisecond for 3 s.
 */
async function pacedCpu(logger: ReturnType<typeof createLogger>, line: Record<string, unknown>): Promise<number> {
  const paced = async (emit: () => void) => {
    const cpu = process.cpuUsage();
    const started = performance.now();
    let sent = 0;
    while (performance.now() - started < 3000) {
      const due = Math.floor((performance.now() - started) * 25);
      while (sent < due) {
        emit();
        sent += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / sent;
  };
  const idle = await paced(() => {});
  const written = await paced(() => logger.access(line));
  await logger.close();
  return written - idle;
}

/**
 * The parts one request pays for, in process on this runtime: what the request path adds with each
 * setting, measured apart from the noise of a loaded machine.
 */
async function inProcess(): Promise<string[][]> {
  const requests = new RequestMetrics([0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000], false);
  const ids = requestIds();
  const metricsCost = await perCall(() => {
    const record = new RequestRecord("GET", ids());
    record.api = "bench";
    record.backend = "upstream";
    record.status = 200;
    record.totalMs = 0.4;
    record.backendMs = 0.3;
    record.responseBytes = 11;
    requests.record(record);
  });
  const logger = createLogger("json", { dest: "/dev/null" });
  const line = {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331",
    requestId: "3f9a1c2e-1b",
    clientIp: "127.0.0.1",
    method: "GET",
    host: "127.0.0.1:8080",
    scheme: "http",
    path: "/",
    status: 200,
    ms: 0.412,
    backendMs: 0.301,
    gatewayMs: 0.111,
    bytesOut: 11,
    api: "bench",
    backend: "127.0.0.1:9000",
    revision: 1,
  };
  const logCost = await perCall(() => logger.access(line));
  await logger.close();
  const writtenLogCost = await pacedCpu(createLogger("json", { dest: "/dev/null" }), line);
  const spans: ReadableSpan[] = [];
  const keep = {
    // Keeps the first 512 spans exported, for the encoding measurement.
    export: (batch: ReadableSpan[], done: (r: { code: number }) => void) => {
      if (spans.length < 512) spans.push(...batch.slice(0, 512 - spans.length));
      done({ code: 0 });
    },
    shutdown: async () => {},
  };
  const tracing = (ratio: number) =>
    new Tracing({
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
      processor: new BatchSpanProcessor({ exporter: keep, maxQueueSize: 65_536, maxExportBatchSize: 512 }),
      resource: resourceFromAttributes({ "service.name": "portico" }),
      scope: { name: "portico" },
    }, { trustParent: false, responseHeader: undefined });
  const headers = new Headers({ host: "127.0.0.1:8080", accept: "*/*" });
  const origin = { hostname: "127.0.0.1", port: 9000 };
  const traced = (t: Tracing) => () => {
    const trace = t.start("GET", headers, "http", "127.0.0.1:8080", "/", "127.0.0.1");
    trace.routed("GET", "bench", undefined, undefined);
    trace.startBackend("GET", "upstream", origin, new Headers());
    trace.endBackend(200);
    trace.end(200);
  };
  // The same spans through the SDK's own tracer (what runtime/observability/tracing.ts replaced): a
  // context for the parent, the propagator for traceparent, attributes set one by one.
  const sdkTracer = (ratio: number) =>
    new TracerProvider({
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
      spanProcessors: [new BatchSpanProcessor({ exporter: { export: (_b, done) => done({ code: 0 }), shutdown: async () => {} }, maxQueueSize: 65_536 })],
    }).getTracer("bench");
  const propagator = new W3CTraceContextPropagator();
  const sdkTraced = (tracer: Tracer) => () => {
    const server = tracer.startSpan("GET", {
      kind: SpanKind.SERVER,
      attributes: { "http.request.method": "GET", "url.scheme": "http", "server.address": "127.0.0.1:8080", "url.path": "/", "client.address": "127.0.0.1" },
    });
    if (server.isRecording()) {
      server.updateName("GET bench");
      server.setAttribute("api", "bench");
    }
    const parent = trace.setSpan(ROOT_CONTEXT, server);
    const client = tracer.startSpan("GET", {
      kind: SpanKind.CLIENT,
      attributes: { "http.request.method": "GET", "server.address": "127.0.0.1", "server.port": 9000, backend: "upstream" },
    }, parent);
    propagator.inject(trace.setSpan(ROOT_CONTEXT, client), new Headers(), defaultTextMapSetter);
    client.setAttribute("http.response.status_code", 200);
    client.end();
    server.setAttribute("http.response.status_code", 200);
    server.end();
  };
  const all = await perCall(traced(tracing(1)));
  const one = await perCall(traced(tracing(0.01)));
  const sdkAll = await perCall(sdkTraced(sdkTracer(1)));
  const sdkOne = await perCall(sdkTraced(sdkTracer(0.01)));
  // Encoding for export (the OTLP exporter's own protobuf serializer), per span, on batches of 512.
  const batch = spans.slice(0, 512);
  const encode = (await perCall(() => void ProtobufTraceSerializer.serializeRequest(batch), 20)) / batch.length;
  return [
    ["request metrics (the record and its histogram cells)", `${metricsCost.toFixed(2)} µs`],
    ["a JSON access line (rendered, handed to the buffered writer)", `${logCost.toFixed(2)} µs`],
    ["a JSON access line with its share of the writes (process CPU, all threads, 25,000 lines/s for 3 s)", `${writtenLogCost.toFixed(2)} µs`],
    ["SERVER and CLIENT spans, sampled (made, ended, queued)", `${all.toFixed(2)} µs`],
    ["SERVER and CLIENT spans, not sampled (1 %: ids only)", `${one.toFixed(2)} µs`],
    ["the same two spans through the SDK's tracer, sampled (for comparison; not used)", `${sdkAll.toFixed(2)} µs`],
    ["the same two spans through the SDK's tracer, not sampled (for comparison; not used)", `${sdkOne.toFixed(2)} µs`],
    ["encoding a span as OTLP protobuf (per span, batches of 512)", `${encode.toFixed(2)} µs`],
  ];
}

/** An OTLP/HTTP sink: reads every body and answers 200; counts what it took. */
function startSink(): Promise<{ url: string; requests: () => number; bytes: () => number; close: () => void }> {
  let requests = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.on("end", () => {
      requests += 1;
      res.writeHead(200, { "content-type": "application/x-protobuf" });
      res.end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      resolve({ url: `http://127.0.0.1:${port}`, requests: () => requests, bytes: () => bytes, close: () => server.close() });
    })
  );
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { rounds: { type: "string" }, duration: { type: "string" }, warmup: { type: "string" } } });
  const rounds = wholeNumber("rounds", values.rounds, 1) ?? 3;
  const duration = wholeNumber("duration", values.duration, 1) ?? 8;
  const warmup = wholeNumber("warmup", values.warmup, 0) ?? 2;
  const micro = await inProcess();
  installCleanup();
  const bench = await openBench({ nginx: false });
  // The sink runs in this process: keep it off the gateway's CPU, with the upstream and the load generator.
  if (bench.loadPin.length) execFileSync(bench.loadPin[0]!, ["-a", "-pc", bench.loadPin.at(-1)!, String(process.pid)], { stdio: "ignore" });
  const sink = await startSink();
  const configFile = join(bench.dir, "telemetry.yaml");
  writeFileSync(
    configFile,
    `apis:\n  - { name: bench, path: /, backend: upstream }\nbackends:\n  upstream: { urls: ["http://127.0.0.1:${bench.upstreamPort}"], timeout: 30s }\n`,
  );
  const otlp = (sampling: string) => ({
    PORTICO_TELEMETRY_LOGS_STD: "json",
    PORTICO_TELEMETRY_OTLP_ENDPOINT: sink.url,
    PORTICO_TELEMETRY_OTLP_SPOOL_PATH: join(bench.dir, "spool"),
    PORTICO_TELEMETRY_METRICS_EXPORT_INTERVAL: "10s",
    PORTICO_TELEMETRY_TRACES_SAMPLING: sampling,
  });
  const arms: GatewayArm[] = [
    { name: "off", configFile, env: { PORTICO_TELEMETRY_LOGS_STD: "none" } },
    { name: "access log", configFile, env: { PORTICO_TELEMETRY_LOGS_STD: "json" } },
    { name: "all on, 100 %", configFile, env: otlp("1") },
    { name: "all on, 1 %", configFile, env: otlp("0.01") },
  ];
  const results = await alternateArms(bench, arms, { rounds, duration, warmup, tag: "telemetry" });
  const rows = comparedRows(arms, results);
  sink.close();
  process.stdout.write(
    [
      "## Telemetry: what observing every request costs (Bun)",
      "",
      ...benchHeader(bench),
      `- command: \`bun bench/telemetry.ts --rounds ${rounds} --duration ${duration} --warmup ${warmup}\``,
      `- the OTLP sink took ${sink.requests()} export requests, ${(sink.bytes() / 1024 / 1024).toFixed(1)} MiB`,
      "",
      "### In process (Bun, per request)",
      "",
      table(["part", "cost"], micro),
      "",
      `### Through the gateway (\`wrk -t1 -c32 -d${duration}s\`, arms alternating)`,
      "",
      table(["arm", "rps (median)", "runs", "vs off", "cost per request"], rows),
      "",
    ].join("\n"),
  );
  await stopAll();
  return 0;
}

runMain(main);
