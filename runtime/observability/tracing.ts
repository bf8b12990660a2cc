import { type Context, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type TextMapGetter, trace, type Tracer } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";

/**
 * Traces of the request path: one SERVER span per request, one CLIENT span per backend call (its
 * child), the W3C `traceparent` sent to the backend naming the CLIENT span. Spans are passed
 * explicitly (no async context manager: it is not needed when the gateway hands the span on
 * itself, and it costs on every await). A request that is not sampled still gets a trace id (a
 * non-recording span), so logs, problem bodies and the backend can be correlated.
 * See docs/observability.md for the span model.
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

/** The trace of one request: its SERVER span, and the CLIENT span of the backend call while there is one. */
export class RequestTrace {
  /** The CLIENT span of the backend call, between `startBackend` and `endBackend`. */
  #client: Span | undefined;

  constructor(
    private readonly tracer: Tracer,
    /** The request's SERVER span. */
    readonly span: Span,
  ) {}

  /** The trace id, 32 lowercase hex digits. */
  get traceId(): string {
    return this.span.spanContext().traceId;
  }

  /** The SERVER span's id, 16 lowercase hex digits. */
  get spanId(): string {
    return this.span.spanContext().spanId;
  }

  /** Names the routed API and operation on the SERVER span. */
  routed(method: string, api: string, operation: string | undefined, product: string | undefined): void {
    const span = this.span;
    if (!span.isRecording()) return;
    span.updateName(operation ? `${method} ${api} ${operation}` : `${method} ${api}`);
    span.setAttribute("api", api);
    if (operation !== undefined) span.setAttribute("operation", operation);
    if (product !== undefined) span.setAttribute("product", product);
  }

  /** Marks a point of the request on the SERVER span (a policy section done, a policy failed). */
  event(name: string, attributes?: Record<string, string>): void {
    if (this.span.isRecording()) this.span.addEvent(name, attributes);
  }

  /**
   * Starts the CLIENT span of a backend call and writes its `traceparent` (and the trace's
   * `tracestate`) into the headers sent to the backend, replacing what the client sent.
   */
  startBackend(method: string, backend: string, origin: { readonly hostname: string; readonly port: number }, headers: Headers): void {
    const recording = this.span.isRecording();
    const client = this.tracer.startSpan(
      method,
      recording
        ? { kind: SpanKind.CLIENT, attributes: { "http.request.method": method, "server.address": origin.hostname, "server.port": origin.port, backend } }
        : { kind: SpanKind.CLIENT },
      trace.setSpan(ROOT_CONTEXT, this.span),
    );
    this.#client = client;
    // W3C Trace Context, version 00, written here: the propagator would build a context per call for the same four fields.
    const context = client.spanContext();
    headers.set("traceparent", `00-${context.traceId}-${context.spanId}-0${context.traceFlags & 1}`);
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
      client.setAttribute("http.response.status_code", status);
      if (status >= 500) client.setStatus({ code: SpanStatusCode.ERROR });
    }
    if (error !== undefined) {
      client.setAttribute("error.type", error);
      client.setStatus({ code: SpanStatusCode.ERROR, message: error });
    }
    client.end();
  }

  /** Ends the SERVER span with the status sent to the client (5xx is an error, as semantic conventions say for servers). */
  end(status: number): void {
    this.endBackend(undefined, "abandoned");
    const span = this.span;
    if (span.isRecording()) {
      span.setAttribute("http.response.status_code", status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }
}

/** Starts request traces with one tracer (of a provider instance, never the global one). */
export class Tracing {
  constructor(
    private readonly tracer: Tracer,
    readonly options: TracingOptions,
  ) {}

  /** Starts the SERVER span of a request, continuing the client's trace when trusted to. */
  start(method: string, headers: Headers, scheme: string, host: string, path: string, clientIp: string): RequestTrace {
    let parent: Context = ROOT_CONTEXT;
    if (this.options.trustParent && headers.has("traceparent")) parent = propagator.extract(ROOT_CONTEXT, headers, headerGetter);
    const span = this.tracer.startSpan(method, {
      kind: SpanKind.SERVER,
      attributes: { "http.request.method": method, "url.scheme": scheme, "server.address": host, "url.path": path, "client.address": clientIp },
    }, parent);
    return new RequestTrace(this.tracer, span);
  }
}
