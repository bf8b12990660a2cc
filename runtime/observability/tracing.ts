import {
  type Attributes,
  type Context,
  type HrTime,
  ROOT_CONTEXT,
  type SpanContext,
  SpanKind,
  type SpanStatus,
  SpanStatusCode,
  type TextMapGetter,
  trace,
  type TraceState,
} from "@opentelemetry/api";
import { type InstrumentationScope, W3CTraceContextPropagator } from "@opentelemetry/core";
import type { Resource } from "@opentelemetry/resources";
import { type ReadableSpan, type Sampler, SamplingDecision, type SpanProcessor, type TimedEvent } from "@opentelemetry/sdk-trace";
import type { OutgoingHeaders } from "../upstream/header-fields.ts";

/**
 * Traces of the request path: one SERVER span per request, one CLIENT span per backend call (its
 * child), the W3C `traceparent` sent to the backend naming the CLIENT span. A request that is not
 * sampled still gets a trace id (ids only, no span object), so logs, problem bodies and the backend
 * can be correlated.
 *
 * The spans are recorded here rather than through the SDK's tracer, and handed to the SDK's span
 * processor (batching, queue limits, `OTEL_BSP_*`) and its OTLP exporter (serialization, transport)
 * as finished `ReadableSpan`s. The SDK's tracer builds a context, calls its processors, sanitizes
 * attributes and computes times in several steps for every span, sampled or not: measured on Bun
 * (`bun bench/telemetry.ts`) more than twice what this costs sampled, and about one and a half
 * times unsampled (figures in docs/design/telemetry.md). The sampler is still the SDK's
 * (parent-based, trace-id ratio), so sampling decisions are the ones OpenTelemetry documents.
 * Spans are passed explicitly (no async context manager). See docs/observability.md for the span model.
 */

const propagator = new W3CTraceContextPropagator();

const headerGetter: TextMapGetter<Headers> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: (headers) => [...headers.keys()],
};

/** How tracing behaves, from the settings. */
export interface TracingOptions {
  /** Whether a client's `traceparent`/`tracestate` continues its trace (`telemetry.traces.trust-parent`); else every request starts one. */
  readonly trustParent: boolean;
  /** A response header that carries the trace id to the client (`telemetry.traces.response-header`), or none. */
  readonly responseHeader: string | undefined;
}

/** Where sampled spans go, and what names them. */
export interface SpanSink {
  /** Decides which traces are recorded (the SDK's samplers). */
  readonly sampler: Sampler;
  /** Receives every sampled span once it has ended (the SDK's batch processor); none: nothing is recorded. */
  readonly processor: SpanProcessor | undefined;
  /** The gateway's resource, on every span. */
  readonly resource: Resource;
  /** The instrumentation scope of the gateway's spans. */
  readonly scope: InstrumentationScope;
}

const HEX: string[] = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));
/** Random bytes for ids, refilled 4 KiB at a time (one `getRandomValues` per 170 requests). */
const pool = new Uint8Array(4096);
let poolAt = pool.length;

/** `bytes` random bytes as lowercase hex, from the crypto pool (never all zero, which W3C forbids). */
function randomHex(bytes: number): string {
  for (;;) {
    if (poolAt + bytes > pool.length) {
      crypto.getRandomValues(pool);
      poolAt = 0;
    }
    let hex = "";
    let zero = true;
    for (let i = 0; i < bytes; i++) {
      const byte = pool[poolAt++]!;
      if (byte !== 0) zero = false;
      hex += HEX[byte];
    }
    if (!zero) return hex;
  }
}

/** Wall-clock milliseconds minus `performance.now()`, re-read every second so spans follow clock adjustments. */
let clockOffset = Date.now() - performance.now();
let offsetReadAt = performance.now();

/** Wall-clock time (epoch ms, sub-millisecond) for a `performance.now()` reading. */
function wallMs(now: number): number {
  if (now - offsetReadAt > 1_000) {
    clockOffset = Date.now() - performance.now();
    offsetReadAt = now;
  }
  return clockOffset + now;
}

/** Milliseconds as OpenTelemetry's `[seconds, nanoseconds]`. */
function hrTime(ms: number): HrTime {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return nanos >= 1e9 ? [seconds + 1, nanos - 1e9] : [seconds, nanos];
}

const UNSET: SpanStatus = { code: SpanStatusCode.UNSET };
const ERROR: SpanStatus = { code: SpanStatusCode.ERROR };
const NO_LINKS: never[] = [];
const NO_EVENTS: never[] = [];

/** A sampled span while it is open, and the finished span the processor receives. */
class RecordedSpan implements ReadableSpan {
  name: string;
  startTime: HrTime;
  endTime: HrTime = [0, 0];
  duration: HrTime = [0, 0];
  ended = false;
  status: SpanStatus = UNSET;
  events: TimedEvent[] = NO_EVENTS;
  readonly links = NO_LINKS;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
  readonly #context: SpanContext;
  readonly #startedAt: number;

  constructor(
    readonly kind: SpanKind,
    name: string,
    context: SpanContext,
    readonly parentSpanContext: SpanContext | undefined,
    readonly attributes: Attributes,
    sink: SpanSink,
  ) {
    this.name = name;
    this.#context = context;
    this.resource = sink.resource;
    this.instrumentationScope = sink.scope;
    this.#startedAt = performance.now();
    this.startTime = hrTime(wallMs(this.#startedAt));
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  /** Adds an event at the current time. */
  addEvent(name: string, attributes: Attributes | undefined): void {
    const event: TimedEvent = { name, time: hrTime(wallMs(performance.now())), attributes, droppedAttributesCount: 0 };
    if (this.events === NO_EVENTS) this.events = [event];
    else this.events.push(event);
  }

  /** Ends the span now and hands it to the processor. */
  end(processor: SpanProcessor): void {
    if (this.ended) return;
    const now = performance.now();
    const ms = now - this.#startedAt;
    this.endTime = hrTime(wallMs(now));
    const seconds = Math.floor(ms / 1000);
    this.duration = [seconds, Math.round((ms - seconds * 1000) * 1e6)];
    this.ended = true;
    processor.onEnd(this);
  }
}

/** The trace of one request: its SERVER span, and the CLIENT span of the backend call while there is one. */
export class RequestTrace {
  /** The trace id, 32 lowercase hex digits. */
  readonly traceId: string;
  /** The SERVER span's id, 16 lowercase hex digits. */
  readonly spanId: string;
  /** The SERVER span, when this request is sampled. */
  readonly #span: RecordedSpan | undefined;
  /** The CLIENT span of the backend call, between `startBackend` and `endBackend`, when sampled. */
  #client: RecordedSpan | undefined;
  readonly #context: SpanContext;

  constructor(
    private readonly sink: SpanSink,
    traceId: string,
    traceFlags: number,
    traceState: TraceState | undefined,
    parent: SpanContext | undefined,
    attributes: Attributes | undefined,
  ) {
    this.traceId = traceId;
    this.spanId = randomHex(8);
    this.#context = { traceId, spanId: this.spanId, traceFlags, traceState };
    if (attributes) this.#span = new RecordedSpan(SpanKind.SERVER, attributes["http.request.method"] as string, this.#context, parent, attributes, sink);
  }

  /** Names the routed API and operation on the SERVER span. */
  routed(method: string, api: string, operation: string | undefined, product: string | undefined): void {
    const span = this.#span;
    if (!span) return;
    span.name = operation ? `${method} ${api} ${operation}` : `${method} ${api}`;
    span.attributes.api = api;
    if (operation !== undefined) span.attributes.operation = operation;
    if (product !== undefined) span.attributes.product = product;
  }

  /** Marks a point of the request on the SERVER span (a policy section done, a policy failed). */
  event(name: string, attributes?: Record<string, string>): void {
    this.#span?.addEvent(name, attributes);
  }

  /**
   * Starts the CLIENT span of a backend call and writes its `traceparent` (and the trace's
   * `tracestate`) into the headers sent to the backend, replacing what the client sent.
   */
  startBackend(method: string, backend: string, origin: { readonly hostname: string; readonly port: number }, headers: OutgoingHeaders): void {
    const spanId = randomHex(8);
    const context = this.#context;
    if (this.#span) {
      this.#client = new RecordedSpan(
        SpanKind.CLIENT,
        method,
        { traceId: this.traceId, spanId, traceFlags: context.traceFlags, traceState: context.traceState },
        context,
        { "http.request.method": method, "server.address": origin.hostname, "server.port": origin.port, backend },
        this.sink,
      );
    }
    // W3C Trace Context, version 00.
    headers.set("traceparent", `00-${this.traceId}-${spanId}-0${context.traceFlags & 1}`);
    const state = context.traceState?.serialize();
    if (state) headers.set("tracestate", state);
    else headers.delete("tracestate");
  }

  /** Ends the CLIENT span with the backend's status, or with the error that stopped the call. */
  endBackend(status: number | undefined, error?: string): void {
    const client = this.#client;
    if (!client) return;
    this.#client = undefined;
    if (status !== undefined) {
      client.attributes["http.response.status_code"] = status;
      if (status >= 500) client.status = ERROR;
    }
    if (error !== undefined) {
      client.attributes["error.type"] = error;
      client.status = { code: SpanStatusCode.ERROR, message: error };
    }
    client.end(this.sink.processor!);
  }

  /** Ends the SERVER span with the status sent to the client (5xx is an error, as semantic conventions say for servers). */
  end(status: number): void {
    this.endBackend(undefined, "abandoned");
    const span = this.#span;
    if (!span) return;
    span.attributes["http.response.status_code"] = status;
    if (status >= 500) span.status = ERROR;
    span.end(this.sink.processor!);
  }
}

/** Starts request traces: decides sampling with the SDK's sampler and records sampled spans for its processor. */
export class Tracing {
  constructor(
    private readonly sink: SpanSink,
    readonly options: TracingOptions,
  ) {}

  /** Starts the SERVER span of a request, continuing the client's trace when trusted to. */
  start(method: string, headers: Headers, scheme: string, host: string, path: string, clientIp: string): RequestTrace {
    let context: Context = ROOT_CONTEXT;
    let parent: SpanContext | undefined;
    if (this.options.trustParent && headers.has("traceparent")) {
      context = propagator.extract(ROOT_CONTEXT, headers, headerGetter);
      parent = trace.getSpanContext(context);
    }
    const traceId = parent?.traceId ?? randomHex(16);
    const sink = this.sink;
    // Ids only (a trace id for the response header): no attributes to build.
    if (!sink.processor) return new RequestTrace(sink, traceId, 0, parent?.traceState, parent, undefined);
    const attributes: Attributes = {
      "http.request.method": method,
      "url.scheme": scheme,
      "server.address": host,
      "url.path": path,
      "client.address": clientIp,
    };
    const decision = sink.sampler.shouldSample(context, traceId, method, SpanKind.SERVER, attributes, NO_LINKS);
    // As the SDK's tracer does: a sampler may replace the trace state; a decision to record without sampling exports nothing, so it records nothing here.
    const sampled = decision.decision === SamplingDecision.RECORD_AND_SAMPLED;
    return new RequestTrace(sink, traceId, sampled ? 1 : 0, decision.traceState ?? parent?.traceState, parent, sampled ? attributes : undefined);
  }
}
