// The OTLP/HTTP exporters of traces, metrics and logs the gateway hands to its SDK providers:
// the OpenTelemetry exporter base and serializers (protobuf or JSON), over a transport of ours
// that POSTs with the given fetch and keeps batches in a disk spool while the collector is away.
// The spool's behaviour, limits and format: docs/observability-export.md.

import { OTLPMetricExporterBase } from "@opentelemetry/exporter-metrics-otlp-http";
import { createOtlpNetworkExportDelegate, ExporterMetrics, OTLPExporterBase } from "@opentelemetry/otlp-exporter-base";
import type { IExporterTransport } from "@opentelemetry/otlp-exporter-base";
import {
  type IExporterMetricsHelper,
  type ISerializer,
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  LogsExporterMetricsHelper,
  MetricsExporterMetricsHelper,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
  TraceExporterMetricsHelper,
} from "@opentelemetry/otlp-transformer";
import type { LogRecordExporter, ReadableLogRecord } from "@opentelemetry/sdk-logs";
import type { PushMetricExporter } from "@opentelemetry/sdk-metrics";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";
import { type LaneCounters, type OtlpEvent, type ReplayBackoff, SignalLane } from "./lane.ts";
import { DiskSpool } from "./spool.ts";
import type { OtlpSignal } from "./transport.ts";

export type { OtlpEvent } from "./lane.ts";
export type { OtlpSignal } from "./transport.ts";

/** Options of `createOtlpExporters`, as the settings `telemetry.otlp.*` give them (parsed). */
export interface OtlpOptions {
  /** Base URL; `/v1/traces`, `/v1/metrics` and `/v1/logs` are appended (as with `OTEL_EXPORTER_OTLP_ENDPOINT`). */
  endpoint: string;
  /** Full URL of one signal, used as is instead of the base URL plus its path. */
  tracesUrl?: string;
  /** Full URL of one signal, used as is instead of the base URL plus its path. */
  metricsUrl?: string;
  /** Full URL of one signal, used as is instead of the base URL plus its path. */
  logsUrl?: string;
  /** The OTLP/HTTP encoding: protobuf (the default of the settings) or JSON. */
  protocol: "http/protobuf" | "http/json";
  /** Sent with every export request (credentials, typically); never reported anywhere. */
  headers: Record<string, string>;
  /** Time allowed for one export request. */
  timeoutMs: number;
  /**
   * The disk spool for batches the collector did not take; undefined, or `maxBytes` 0, disables it
   * (failed batches are then dropped and counted). `replayMinMs`/`replayMaxMs` bound the replayer's
   * back-off between attempts (defaults 1 s and 30 s); tests shorten them.
   */
  spool?: { path: string; maxBytes: number; replayMinMs?: number; replayMaxMs?: number };
  /** The fetch used for every request; default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Receives what happened to batches, for logs and metrics; see `OtlpEvent`. Must not throw. */
  onEvent?: (event: OtlpEvent) => void;
}

/** Counters of an exporter set: what the spool holds now, and totals since it was created. */
export interface OtlpExportStats {
  /** Bytes held in the spool now, all signals. */
  spooledBytes: number;
  /** Batches held in the spool now, all signals. */
  spooledBatches: number;
  /** Batches lost: evicted from a full spool, refused by the collector, unspoolable. */
  dropped: number;
  /** Spooled batches delivered later. */
  replayed: number;
  /** Export requests that failed (connection, timeout, non-2xx), first attempts and replays. */
  failures: number;
}

/** The three exporters for the SDK providers, plus the spool's counters and its shutdown. */
export interface OtlpExporters {
  spans: SpanExporter;
  metrics: PushMetricExporter;
  logs: LogRecordExporter;
  stats(): OtlpExportStats;
  /** Stops the replayer's timers and waits for batches being written or sent; the spool stays on disk. */
  shutdown(): Promise<void>;
}

const DEFAULT_BACKOFF: ReplayBackoff = { minMs: 1_000, maxMs: 30_000 };

/**
 * Creates the OTLP/HTTP exporters of one gateway. One spool directory serves the three signals and
 * may be used by one process at a time; a new process with the same path replays what an earlier
 * one left. Nothing here blocks a request: the SDK calls the exporters off the request path, and
 * every file and network operation is asynchronous.
 */
export function createOtlpExporters(options: OtlpOptions): OtlpExporters {
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const encoding = options.protocol === "http/json" ? "json" : "pb";
  const counters: LaneCounters = { dropped: 0, replayed: 0, failures: 0 };
  const listener = options.onEvent;
  const emit = (event: OtlpEvent): void => {
    if (listener === undefined) return;
    try {
      listener(event);
    } catch {
      // A faulty listener must not break exports.
    }
  };
  const spoolOptions = options.spool;
  const spool = spoolOptions === undefined || spoolOptions.maxBytes <= 0 ? undefined : new DiskSpool(spoolOptions.path, spoolOptions.maxBytes, (drop) => {
    counters.dropped += drop.batches;
    emit({ type: "dropped", ...drop });
  });
  const backoff: ReplayBackoff = {
    minMs: spoolOptions?.replayMinMs ?? DEFAULT_BACKOFF.minMs,
    maxMs: Math.max(spoolOptions?.replayMaxMs ?? DEFAULT_BACKOFF.maxMs, spoolOptions?.replayMinMs ?? DEFAULT_BACKOFF.minMs),
  };
  const lanes: SignalLane[] = [];
  const lane = (signal: OtlpSignal, explicit: string | undefined): { url: string; transport: SignalLane } => {
    const url = explicit ?? signalUrl(options.endpoint, signal);
    const transport = new SignalLane({
      signal,
      url,
      encoding,
      headers: options.headers,
      timeoutMs: options.timeoutMs,
      fetch: fetchFn,
      spool,
      backoff,
      counters,
      emit,
    });
    lanes.push(transport);
    return { url, transport };
  };
  const json = encoding === "json";
  const traces = lane("traces", options.tracesUrl);
  const metrics = lane("metrics", options.metricsUrl);
  const logs = lane("logs", options.logsUrl);
  const spans: SpanExporter = new OTLPExporterBase<ReadableSpan[]>(
    delegate(options.timeoutMs, json ? JsonTraceSerializer : ProtobufTraceSerializer, TraceExporterMetricsHelper, "otlp_http_span_exporter", traces),
  );
  const metricExporter: PushMetricExporter = new OTLPMetricExporterBase(
    delegate(options.timeoutMs, json ? JsonMetricsSerializer : ProtobufMetricsSerializer, MetricsExporterMetricsHelper, "otlp_http_metric_exporter", metrics),
  );
  const logExporter: LogRecordExporter = new OTLPExporterBase<ReadableLogRecord[]>(
    delegate(options.timeoutMs, json ? JsonLogsSerializer : ProtobufLogsSerializer, LogsExporterMetricsHelper, "otlp_http_log_exporter", logs),
  );
  let closing: Promise<void> | undefined;
  return {
    spans,
    metrics: metricExporter,
    logs: logExporter,
    stats: () => {
      const held = spool?.size() ?? { bytes: 0, batches: 0 };
      return { spooledBytes: held.bytes, spooledBatches: held.batches, ...counters };
    },
    shutdown: () => closing ??= Promise.all(lanes.map((one) => one.close())).then(() => spool?.idle()),
  };
}

/** The URL of a signal under a base endpoint: the base with `/v1/traces` (etc.) appended. */
export function signalUrl(endpoint: string, signal: OtlpSignal): string {
  return `${endpoint.replace(/\/+$/, "")}/v1/${signal}`;
}

function delegate<Internal, Response>(
  timeoutMs: number,
  serializer: ISerializer<Internal, Response>,
  metricsHelper: IExporterMetricsHelper<Internal>,
  componentType: string,
  lane: { url: string; transport: IExporterTransport },
) {
  // The exporter's self-metrics go to a no-op meter: the exporter set reports through `onEvent`.
  const metrics = new ExporterMetrics<Internal>({
    componentType,
    metricsHelper,
    url: lane.url,
    meterProvider: undefined,
    responseAttributesFromError: () => ({}),
  });
  return createOtlpNetworkExportDelegate({ timeoutMillis: timeoutMs, concurrencyLimit: 30, compression: "none" }, serializer, metrics, lane.transport);
}
