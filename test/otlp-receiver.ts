// A test OTLP/HTTP receiver on loopback: accepts `/v1/traces`, `/v1/metrics` and `/v1/logs` in
// protobuf and JSON, decodes them and keeps the decoded export requests. Protobuf is decoded with
// the code generated from the official opentelemetry-proto definitions that
// `@opentelemetry/otlp-transformer` 0.212.0 ships (installed as `otlp-proto-0212`), so the decoder
// is independent of the 0.223.0 encoder under test. Runs on Bun, Deno and Node (node:http).

import { Buffer } from "node:buffer";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import generated from "otlp-proto-0212/build/src/generated/root.js";

/** A signal of OTLP, as in the request path. */
export type ReceivedSignal = "traces" | "metrics" | "logs";

/** One accepted export request: its signal, encoding, headers and the decoded body (OTLP JSON shape). */
export interface ReceivedRequest {
  signal: ReceivedSignal;
  encoding: "protobuf" | "json";
  headers: Record<string, string | string[] | undefined>;
  /** The export request as plain objects, ids as lowercase hex, 64-bit integers as strings. */
  body: Record<string, unknown>;
}

/** A span as received: ids as lowercase hex, attributes as plain objects. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Lowercase hex, or "" for a root span. */
  parentSpanId: string;
  name: string;
  /** The OTLP SpanKind number (1 internal, 2 server, 3 client, 4 producer, 5 consumer). */
  kind: number;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  scope: string;
}

/** One metric data point with its metric's name and type. */
export interface ReceivedDataPoint {
  metric: string;
  type: "sum" | "gauge" | "histogram" | "exponentialHistogram" | "summary";
  attributes: Record<string, unknown>;
  /** The value of a sum or gauge point. */
  value?: number;
  /** Count and sum of a histogram or summary point. */
  count?: number;
  sum?: number;
  resource: Record<string, unknown>;
}

/** A log record as received. */
export interface ReceivedLogRecord {
  body: unknown;
  severityText: string;
  severityNumber: number;
  attributes: Record<string, unknown>;
  /** Lowercase hex, or "" when the record has no span context. */
  traceId: string;
  spanId: string;
  resource: Record<string, unknown>;
}

/** How the receiver answers: normally (200), with 503, with another status, or not at all (port closed). */
export type ReceiverMode = "ok" | "down" | { status: number };

interface MessageType {
  decode(data: Uint8Array): unknown;
  toObject(message: unknown, options: Record<string, unknown>): Record<string, unknown>;
}

// The generated module's declared type is only `protobufjs.Root`; this is the part used here.
const collector = (generated as unknown as {
  opentelemetry: { proto: { collector: Record<string, { v1: Record<string, MessageType> }> } };
}).opentelemetry.proto.collector;

const REQUEST_TYPES: Record<ReceivedSignal, MessageType> = {
  traces: collector.trace.v1.ExportTraceServiceRequest,
  metrics: collector.metrics.v1.ExportMetricsServiceRequest,
  logs: collector.logs.v1.ExportLogsServiceRequest,
};

const ID_FIELDS = new Set(["traceId", "spanId", "parentSpanId"]);

/**
 * The receiver. `start()` listens on 127.0.0.1 (port 0 the first time, the same port after), `stop()`
 * closes the port and its connections (so clients see connection refused), `mode` sets the answer.
 * Requests it cannot decode are answered 400 and counted in `undecodable`.
 */
export class OtlpReceiver {
  /** Every accepted request, in arrival order. */
  readonly requests: ReceivedRequest[] = [];
  /** Requests answered with something other than 200 because of `mode` (503s), in arrival order. */
  readonly refused: { signal: string; status: number }[] = [];
  /** Requests whose body could not be decoded. */
  undecodable = 0;
  private server: Server | undefined;
  private portNumber = 0;
  private answer: ReceiverMode = "ok";

  /** The port, known after the first `start()`. */
  get port(): number {
    return this.portNumber;
  }

  /** The base URL an exporter's `endpoint` takes. */
  get url(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  /** Starts listening (again, on the same port after the first time). */
  async start(): Promise<void> {
    if (this.server !== undefined) return;
    const server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.portNumber, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.portNumber = (server.address() as AddressInfo).port;
    this.server = server;
    if (this.answer === "down") this.answer = "ok";
  }

  /** Closes the port and every open connection; exporters then get connection refused. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections?.();
    await closed;
  }

  /** Sets how requests are answered; "down" stops the server, anything else starts it if stopped. */
  async setMode(mode: ReceiverMode): Promise<void> {
    this.answer = mode;
    if (mode === "down") await this.stop();
    else await this.start();
  }

  /** Forgets every request received so far. */
  clear(): void {
    this.requests.length = 0;
    this.refused.length = 0;
    this.undecodable = 0;
  }

  /** Every span received, in arrival order. */
  spans(): ReceivedSpan[] {
    const spans: ReceivedSpan[] = [];
    for (const request of this.of("traces")) {
      for (const resourceSpans of list(request.body.resourceSpans)) {
        const resource = attributesOf(record(resourceSpans.resource).attributes);
        for (const scopeSpans of list(resourceSpans.scopeSpans)) {
          const scope = String(record(scopeSpans.scope).name ?? "");
          for (const span of list(scopeSpans.spans)) {
            spans.push({
              traceId: String(span.traceId ?? ""),
              spanId: String(span.spanId ?? ""),
              parentSpanId: String(span.parentSpanId ?? ""),
              name: String(span.name ?? ""),
              kind: Number(span.kind ?? 0),
              attributes: attributesOf(span.attributes),
              resource,
              scope,
            });
          }
        }
      }
    }
    return spans;
  }

  /** Every data point received, in arrival order; only those of metric `name` when given. */
  dataPoints(name?: string): ReceivedDataPoint[] {
    const points: ReceivedDataPoint[] = [];
    for (const request of this.of("metrics")) {
      for (const resourceMetrics of list(request.body.resourceMetrics)) {
        const resource = attributesOf(record(resourceMetrics.resource).attributes);
        for (const scopeMetrics of list(resourceMetrics.scopeMetrics)) {
          for (const metric of list(scopeMetrics.metrics)) {
            if (name !== undefined && metric.name !== name) continue;
            for (const type of ["sum", "gauge", "histogram", "exponentialHistogram", "summary"] as const) {
              if (metric[type] === undefined) continue;
              for (const point of list(record(metric[type]).dataPoints)) {
                const value = point.asDouble ?? point.asInt;
                points.push({
                  metric: String(metric.name),
                  type,
                  attributes: attributesOf(point.attributes),
                  ...(value === undefined ? {} : { value: Number(value) }),
                  ...(point.count === undefined ? {} : { count: Number(point.count) }),
                  ...(point.sum === undefined ? {} : { sum: Number(point.sum) }),
                  resource,
                });
              }
            }
          }
        }
      }
    }
    return points;
  }

  /** Every log record received, in arrival order. */
  logRecords(): ReceivedLogRecord[] {
    const records: ReceivedLogRecord[] = [];
    for (const request of this.of("logs")) {
      for (const resourceLogs of list(request.body.resourceLogs)) {
        const resource = attributesOf(record(resourceLogs.resource).attributes);
        for (const scopeLogs of list(resourceLogs.scopeLogs)) {
          for (const log of list(scopeLogs.logRecords)) {
            records.push({
              body: log.body === undefined ? undefined : anyValue(record(log.body)),
              severityText: String(log.severityText ?? ""),
              severityNumber: Number(log.severityNumber ?? 0),
              attributes: attributesOf(log.attributes),
              traceId: String(log.traceId ?? ""),
              spanId: String(log.spanId ?? ""),
              resource,
            });
          }
        }
      }
    }
    return records;
  }

  /** Waits until `check` holds (polling every 20 ms), or fails after `timeoutMs` with `what`. */
  async waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private of(signal: ReceivedSignal): ReceivedRequest[] {
    return this.requests.filter((request) => request.signal === signal);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const data = Buffer.concat(chunks);
    const match = /^\/v1\/(traces|metrics|logs)$/.exec(request.url ?? "");
    if (request.method !== "POST" || match === null) return end(response, 404, "not an OTLP path");
    const signal = match[1] as ReceivedSignal;
    if (this.answer !== "ok" && this.answer !== "down") {
      this.refused.push({ signal, status: this.answer.status });
      return end(response, this.answer.status, "refused by the test receiver's mode");
    }
    const contentType = (request.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
    let body: Record<string, unknown>;
    let encoding: "protobuf" | "json";
    try {
      if (contentType === "application/x-protobuf") {
        encoding = "protobuf";
        const type = REQUEST_TYPES[signal];
        const object = type.toObject(type.decode(new Uint8Array(data)), { longs: String, enums: Number, bytes: String, defaults: false, arrays: true });
        body = normalizeProtobuf(object) as Record<string, unknown>;
      } else if (contentType === "application/json") {
        encoding = "json";
        body = JSON.parse(data.toString("utf8"));
      } else {
        return end(response, 415, "unsupported content type");
      }
    } catch {
      this.undecodable++;
      return end(response, 400, "undecodable body");
    }
    this.requests.push({ signal, encoding, headers: { ...request.headers }, body });
    response.writeHead(200, { "content-type": contentType });
    response.end(encoding === "json" ? "{}" : new Uint8Array(0));
  }
}

/** Starts a receiver on a free loopback port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const receiver = new OtlpReceiver();
  await receiver.start();
  return receiver;
}

function end(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { "content-type": "text/plain" });
  response.end(text);
}

// protobufjs's toObject gives bytes as base64; OTLP JSON (and these helpers) use hex for ids.
function normalizeProtobuf(value: unknown, key?: string): unknown {
  if (typeof value === "string" && key !== undefined && ID_FIELDS.has(key)) return Buffer.from(value, "base64").toString("hex");
  if (Array.isArray(value)) return value.map((item) => normalizeProtobuf(item));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [name, item] of Object.entries(value)) out[name] = normalizeProtobuf(item, name);
    return out;
  }
  return value;
}

function list(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value as Record<string, unknown>[] : [];
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null ? value as Record<string, unknown> : {};
}

function attributesOf(value: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of list(value)) out[String(pair.key)] = anyValue(record(pair.value));
  return out;
}

/** An OTLP AnyValue as a plain value: 64-bit integers as numbers when safe, else strings. */
function anyValue(value: Record<string, unknown>): unknown {
  if ("stringValue" in value) return value.stringValue;
  if ("boolValue" in value) return value.boolValue;
  if ("intValue" in value) {
    const text = String(value.intValue);
    const number = Number(text);
    return Number.isSafeInteger(number) ? number : text;
  }
  if ("doubleValue" in value) return Number(value.doubleValue);
  if ("arrayValue" in value) return list(record(value.arrayValue).values).map(anyValue);
  if ("kvlistValue" in value) return attributesOf(record(value.kvlistValue).values);
  if ("bytesValue" in value) return value.bytesValue;
  return undefined;
}
