import { type Attributes, type HrTime, ValueType } from "@opentelemetry/api";
import { millisToHrTime } from "@opentelemetry/core";
import {
  AggregationTemporality,
  type CollectionResult,
  DataPointType,
  type HistogramMetricData,
  type MetricData,
  type MetricProducer,
  type SumMetricData,
} from "@opentelemetry/sdk-metrics";
import type { Resource } from "@opentelemetry/resources";
import { HistogramCells } from "./histogram.ts";

/**
 * Per-request metrics at the cost of a few increments.
 *
 * Measured on this machine, one `histogram.record` of the OpenTelemetry SDK with six attributes costs
 * about 1.2 µs on Bun and 2.4 µs on Node (it hashes the attribute set on every call); five of them
 * per request would be a tenth of the gateway's whole time per request on Bun. So the request path
 * adds into preallocated cells here, one cell per attribute set found by a string key, and the SDK
 * reads the cells when it collects (a `MetricProducer` handed to the Prometheus and OTLP readers):
 * the same instruments, names and exports, without the per-call hashing. The cells are cumulative
 * for the life of the process (Prometheus and OTLP's default temporality), across configuration swaps.
 * See docs/design/telemetry.md.
 */

/** What one finished request contributes to the request metrics. */
export interface RequestFacts {
  readonly method: string;
  readonly status: number;
  readonly api: string | undefined;
  readonly operation: string | undefined;
  readonly product: string | undefined;
  /** The backend's name, when one was chosen. */
  readonly backend: string | undefined;
  /** The subscription's name; counted only when `telemetry.metrics.subscription-attribute` is on. */
  readonly subscription: string | undefined;
  /** From the request's arrival to its response headers, in ms. */
  readonly totalMs: number;
  /** From the backend call to its response headers, in ms; negative when no backend was called. */
  readonly backendMs: number;
  /** Declared sizes of the request and response bodies in bytes; negative when not known in advance (streamed). */
  readonly requestBytes: number;
  readonly responseBytes: number;
}

/** Causes of failed backend calls, as `error.type` of `portico.upstream.errors`. */
export type UpstreamErrorCause = "refused" | "timeout" | "tls" | "reset" | "dns" | "other";

/** Attribute sets kept at most; the rest share one overflow cell, as the OpenTelemetry specification's cardinality limit does. */
export const MAX_CELLS = 2000;

/** Bucket bounds of the body size histograms, in bytes. */
const SIZE_BOUNDS = [128, 512, 2048, 8192, 32768, 131072, 524288, 2097152, 8388608];

/** The histograms of one attribute set. */
class Cell {
  readonly duration: HistogramCells;
  readonly backend: HistogramCells;
  readonly gateway: HistogramCells;
  readonly requestSize = new HistogramCells(SIZE_BOUNDS);
  readonly responseSize = new HistogramCells(SIZE_BOUNDS);
  readonly start: HrTime = millisToHrTime(Date.now());

  constructor(readonly attributes: Attributes, seconds: readonly number[]) {
    this.duration = new HistogramCells(seconds);
    this.backend = new HistogramCells(seconds);
    this.gateway = new HistogramCells(seconds);
  }
}

/** The request metrics of one gateway process; `record` is its request-path entry. */
export class RequestMetrics implements MetricProducer {
  readonly #cells = new Map<string, Cell>();
  /** The attributes of the last request recorded and their cell (cells are never dropped). */
  readonly #last: {
    method: string;
    status: number;
    api: string | undefined;
    operation: string | undefined;
    product: string | undefined;
    backend: string | undefined;
    subscription: string | undefined;
    cell: Cell | undefined;
  } = { method: "", status: 0, api: undefined, operation: undefined, product: undefined, backend: undefined, subscription: undefined, cell: undefined };
  readonly #seconds: readonly number[];
  readonly #subscriptions: boolean;
  readonly #upstreamErrors = new Map<string, { attributes: Attributes; count: number }>();
  readonly #started: HrTime = millisToHrTime(Date.now());
  /** Requests being handled now (`http.server.active_requests`). */
  active = 0;

  /**
   * @param bucketsMs duration histogram bounds in milliseconds (`telemetry.metrics.histogram.buckets`, APIM's unit); exported in seconds.
   * @param subscriptions whether the subscription's name is an attribute (`telemetry.metrics.subscription-attribute`).
   */
  constructor(bucketsMs: readonly number[], subscriptions: boolean) {
    this.#seconds = bucketsMs.map((ms) => ms / 1000);
    this.#subscriptions = subscriptions;
  }

  /** Adds one finished request (at its response headers). */
  record(facts: RequestFacts): void {
    const subscription = this.#subscriptions ? facts.subscription : undefined;
    let cell: Cell | undefined;
    const last = this.#last;
    // Consecutive requests mostly share their attributes: compared one by one, they cost less than
    // the joined key and its lookup.
    if (
      last.cell !== undefined && last.method === facts.method && last.status === facts.status && last.api === facts.api &&
      last.operation === facts.operation && last.product === facts.product && last.backend === facts.backend && last.subscription === subscription
    ) {
      cell = last.cell;
    } else {
      const key =
        `${facts.method}\u0000${facts.status}\u0000${facts.api}\u0000${facts.operation}\u0000${facts.product}\u0000${facts.backend}\u0000${subscription}`;
      cell = this.#cells.get(key) ?? this.#newCell(key, facts, subscription);
      last.method = facts.method;
      last.status = facts.status;
      last.api = facts.api;
      last.operation = facts.operation;
      last.product = facts.product;
      last.backend = facts.backend;
      last.subscription = subscription;
      last.cell = cell;
    }
    const total = facts.totalMs / 1000;
    cell.duration.record(total);
    if (facts.backendMs >= 0) {
      cell.backend.record(facts.backendMs / 1000);
      cell.gateway.record(Math.max(0, total - facts.backendMs / 1000));
    } else cell.gateway.record(total);
    if (facts.requestBytes >= 0) cell.requestSize.record(facts.requestBytes);
    if (facts.responseBytes >= 0) cell.responseSize.record(facts.responseBytes);
  }

  /** Counts a failed backend call by its cause (off the fast path: only on failures). */
  upstreamFailed(backend: string, cause: UpstreamErrorCause): void {
    const key = `${backend}\u0000${cause}`;
    const entry = this.#upstreamErrors.get(key);
    if (entry) entry.count += 1;
    else if (this.#upstreamErrors.size < MAX_CELLS) this.#upstreamErrors.set(key, { attributes: { backend, "error.type": cause }, count: 1 });
  }

  #newCell(key: string, facts: RequestFacts, subscription: string | undefined): Cell {
    if (this.#cells.size >= MAX_CELLS) {
      const overflow = this.#cells.get("overflow");
      if (overflow) return overflow;
      const cell = new Cell({ "otel.metric.overflow": true }, this.#seconds);
      this.#cells.set("overflow", cell);
      return cell;
    }
    const attributes: Attributes = { "http.request.method": facts.method, "http.response.status_code": facts.status };
    if (facts.api !== undefined) attributes.api = facts.api;
    if (facts.operation !== undefined) attributes.operation = facts.operation;
    if (facts.product !== undefined) attributes.product = facts.product;
    if (facts.backend !== undefined) attributes.backend = facts.backend;
    if (subscription !== undefined) attributes.subscription = subscription;
    const cell = new Cell(attributes, this.#seconds);
    this.#cells.set(key, cell);
    return cell;
  }

  /** The cells as OpenTelemetry metric data, for the readers (MetricProducer). */
  collect(): Promise<CollectionResult> {
    const now = millisToHrTime(Date.now());
    const cells = [...this.#cells.values()];
    const histogram = (name: string, unit: string, description: string, pick: (cell: Cell) => HistogramCells): HistogramMetricData => ({
      descriptor: { name, unit, description, valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: cells.filter((cell) => pick(cell).count > 0).map((cell) => {
        const b = pick(cell);
        return {
          startTime: cell.start,
          endTime: now,
          attributes: cell.attributes,
          value: b.value(),
        };
      }),
    });
    const sum = (name: string, unit: string, description: string, monotonic: boolean, points: { attributes: Attributes; value: number }[]): SumMetricData => ({
      descriptor: { name, unit, description, valueType: ValueType.INT },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      isMonotonic: monotonic,
      dataPoints: points.map(({ attributes, value }) => ({ startTime: this.#started, endTime: now, attributes, value })),
    });
    const metrics: MetricData[] = [
      histogram("http.server.request.duration", "s", "Time from a request's arrival to its response headers.", (c) => c.duration),
      histogram(
        "portico.backend.duration_seconds",
        "s",
        "Time from the backend call to the backend's response headers (APIM's BackendDurationInMs).",
        (c) => c.backend,
      ),
      histogram(
        "portico.gateway.duration_seconds",
        "s",
        "The gateway's own part of a request's duration: total less backend (APIM's GatewayDurationInMs).",
        (c) => c.gateway,
      ),
      histogram(
        "http.server.request.body.size",
        "By",
        "Declared size of request bodies (Content-Length); streamed bodies of unknown length are not counted.",
        (c) => c.requestSize,
      ),
      histogram(
        "http.server.response.body.size",
        "By",
        "Declared size of response bodies (Content-Length); streamed bodies of unknown length are not counted.",
        (c) => c.responseSize,
      ),
      sum("http.server.active_requests", "{request}", "Requests being handled now.", false, [{ attributes: {}, value: this.active }]),
      sum(
        "portico.upstream.errors",
        "{error}",
        "Backend calls that failed, by backend and cause (refused, timeout, tls, reset, dns, other).",
        true,
        [
          ...this.#upstreamErrors.values(),
        ].map(({ attributes, count }) => ({ attributes, value: count })),
      ),
    ];
    return Promise.resolve({
      // The reader keeps its own resource and takes only the scope metrics from a producer.
      resourceMetrics: { resource: undefined as unknown as Resource, scopeMetrics: [{ scope: { name: "portico" }, metrics }] },
      errors: [],
    });
  }
}

/** The cause of a failed backend call, from the error the runtime's client threw (codes of Node, Bun, Deno and undici). */
export function upstreamErrorCause(error: unknown): UpstreamErrorCause {
  const texts: string[] = [];
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    texts.push(`${(e as NodeJS.ErrnoException).code ?? ""} ${e.name} ${e.message}`);
  }
  const text = texts.join(" ");
  if (/ECONNREFUSED|ConnectionRefused|connection refused/i.test(text)) return "refused";
  if (/ENOTFOUND|EAI_AGAIN|dns|failed to lookup/i.test(text)) return "dns";
  if (/CERT|TLS|SSL|certificate|handshake|VERIFY|SIGNATURE|UnknownIssuer/i.test(text)) return "tls";
  if (/ECONNRESET|EPIPE|socket hang up|ConnectionClosed|closed|reset/i.test(text)) return "reset";
  if (/timeout|timed out|ETIMEDOUT/i.test(text)) return "timeout";
  return "other";
}
