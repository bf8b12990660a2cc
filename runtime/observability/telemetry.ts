import { ROOT_CONTEXT, trace, TraceFlags } from "@opentelemetry/api";
import { type LogAttributes, SeverityNumber } from "@opentelemetry/api-logs";
import { detectResources, envDetector, type Resource, resourceFromAttributes } from "@opentelemetry/resources";
import { BatchLogRecordProcessor, LoggerProvider } from "@opentelemetry/sdk-logs";
import { type MetricProducer, type MetricReader, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { AlwaysOffSampler, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace";
import type { SettingKey, Settings } from "../../config/schema/settings.ts";
import type { OtlpEvent, OtlpExporters } from "./otlp/exporters.ts";
import { requestIds, type RequestTelemetry } from "./request-record.ts";
import { RequestMetrics } from "./request-metrics.ts";
import { Tracing } from "./tracing.ts";

/**
 * The gateway's OpenTelemetry set-up, from its settings and the standard `OTEL_*` variables: the
 * resource that names it, the OTLP exporters (with their disk spool), the request tracing (runtime/observability/tracing.ts) with
 * the SDK's span processor, a logger
 * provider for OTLP logs, and the request metrics' producer for the metric readers. Every provider
 * is an instance the gateway holds and passes on; none is registered as the global one, so a host
 * that owns the globals (Deno with `OTEL_DENO=true`) cannot take our telemetry over or drop it.
 * See docs/observability.md.
 */

/** Where and how OTLP goes, resolved from the settings and `OTEL_EXPORTER_OTLP_*`. */
export interface OtlpTarget {
  readonly tracesUrl: string;
  readonly metricsUrl: string;
  readonly logsUrl: string;
  readonly protocol: "http/protobuf" | "http/json";
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

/** Environment variables, as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * The OTLP target, or undefined when nothing is exported, and the problems that stop a gateway.
 * Portico's settings win; the standard variables fill what they leave unset (`OTEL_EXPORTER_OTLP_ENDPOINT`
 * as a base, `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT` as full URLs, `_HEADERS`, `_PROTOCOL`,
 * `_TIMEOUT` in ms), as the OpenTelemetry specification describes them. `OTEL_SDK_DISABLED=true` or
 * `telemetry.otlp.enabled: false` turns export off.
 */
export function resolveOtlpTarget(settings: Settings, env: Env, given: ReadonlySet<SettingKey>): { target?: OtlpTarget; problems: string[] } {
  const problems: string[] = [];
  if (!settings["telemetry.otlp.enabled"] || env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return { problems };
  const base = settings["telemetry.otlp.endpoint"] ?? blankless(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  const signal = (name: "TRACES" | "METRICS" | "LOGS", path: string): string | undefined => {
    if (settings["telemetry.otlp.endpoint"] !== undefined) return join(settings["telemetry.otlp.endpoint"], path);
    return blankless(env[`OTEL_EXPORTER_OTLP_${name}_ENDPOINT`]) ?? (base === undefined ? undefined : join(base, path));
  };
  const urls = { traces: signal("TRACES", "v1/traces"), metrics: signal("METRICS", "v1/metrics"), logs: signal("LOGS", "v1/logs") };
  if (urls.traces === undefined && urls.metrics === undefined && urls.logs === undefined) {
    if (given.has("telemetry.otlp.enabled")) {
      problems.push("telemetry.otlp.enabled: true, but no endpoint: set telemetry.otlp.endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT)");
    }
    return { problems };
  }
  for (const [name, url] of Object.entries(urls)) {
    if (url !== undefined && !/^https?:\/\//.test(url)) {
      problems.push(`the OTLP ${name} endpoint must be an http:// or https:// URL (from OTEL_EXPORTER_OTLP_*)`);
    }
  }
  let protocol = settings["telemetry.otlp.protocol"];
  const envProtocol = blankless(env.OTEL_EXPORTER_OTLP_PROTOCOL);
  if (!given.has("telemetry.otlp.protocol") && envProtocol !== undefined) {
    if (envProtocol === "http/protobuf" || envProtocol === "http/json") protocol = envProtocol;
    else problems.push(`OTEL_EXPORTER_OTLP_PROTOCOL: Portico exports OTLP over HTTP only: http/protobuf or http/json (got ${JSON.stringify(envProtocol)})`);
  }
  const headers = { ...parseHeaderList(env.OTEL_EXPORTER_OTLP_HEADERS), ...settings["telemetry.otlp.headers"] };
  let timeoutMs = settings["telemetry.otlp.timeout"];
  const envTimeout = blankless(env.OTEL_EXPORTER_OTLP_TIMEOUT);
  if (!given.has("telemetry.otlp.timeout") && envTimeout !== undefined) {
    if (/^\d+$/.test(envTimeout) && Number(envTimeout) > 0) timeoutMs = Number(envTimeout);
    else problems.push(`OTEL_EXPORTER_OTLP_TIMEOUT: expected milliseconds (got ${JSON.stringify(envTimeout)})`);
  }
  // A signal without its own URL has the base's (there is one: at least one signal resolved).
  const fallback = (urls.traces ?? urls.metrics ?? urls.logs)!;
  const target = {
    tracesUrl: urls.traces ?? fallback,
    metricsUrl: urls.metrics ?? fallback,
    logsUrl: urls.logs ?? fallback,
    protocol,
    headers,
    timeoutMs,
  };
  return problems.length ? { problems } : { target, problems };
}

function blankless(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function join(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}/${path}`;
}

/** `name=value,name2=value2` as OTEL_EXPORTER_OTLP_HEADERS has it (values percent-decoded); malformed pairs are skipped. */
function parseHeaderList(list: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (list ?? "").split(",")) {
    const at = pair.indexOf("=");
    if (at <= 0) continue;
    const name = pair.slice(0, at).trim().toLowerCase();
    try {
      headers[name] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      headers[name] = pair.slice(at + 1).trim();
    }
  }
  return headers;
}

/**
 * The batch processors' standard variables (`OTEL_BSP_*` for spans, `OTEL_BLRP_*` for log records),
 * which the SDK's 2.x line does not read itself: a variable that is not a positive whole number is ignored.
 */
function batchOptions(env: Env, prefix: "BSP" | "BLRP") {
  const int = (name: string): number | undefined => {
    const value = env[`OTEL_${prefix}_${name}`]?.trim();
    return value && /^\d+$/.test(value) && Number(value) > 0 ? Number(value) : undefined;
  };
  const options: { scheduledDelayMillis?: number; maxQueueSize?: number; maxExportBatchSize?: number; exportTimeoutMillis?: number } = {};
  const delay = int("SCHEDULE_DELAY");
  const queue = int("MAX_QUEUE_SIZE");
  const batch = int("MAX_EXPORT_BATCH_SIZE");
  const timeout = int("EXPORT_TIMEOUT");
  if (delay !== undefined) options.scheduledDelayMillis = delay;
  if (queue !== undefined) options.maxQueueSize = queue;
  if (batch !== undefined) options.maxExportBatchSize = Math.min(batch, queue ?? 2048);
  if (timeout !== undefined) options.exportTimeoutMillis = timeout;
  return options;
}

/** What a gateway needs to set its telemetry up. */
export interface TelemetryOptions {
  readonly settings: Settings;
  /** Settings given explicitly (not defaults): they win over `OTEL_*` variables. */
  readonly given: ReadonlySet<SettingKey>;
  readonly env: Env;
  readonly version: string;
  /** `bun 1.4.5`, `deno 2.9.6`, `node v20...`. */
  readonly runtime: string;
  /** The gateway's name, as `service.instance.id`. */
  readonly gateway: string;
  /** Hears what happens to OTLP batches (spooled, replayed, dropped, failed). */
  readonly onExportEvent?: (event: OtlpEvent) => void;
  /** The fetch OTLP exports use. */
  readonly fetch?: typeof fetch;
}

/** Severity numbers of the gateway's log levels (OpenTelemetry's log data model). */
const SEVERITY: Readonly<Record<string, SeverityNumber>> = {
  debug: SeverityNumber.DEBUG,
  info: SeverityNumber.INFO,
  warn: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
  access: SeverityNumber.INFO,
};

/** A gateway's telemetry: what the request path uses, the metric readers' parts, and shutdown. */
export class Telemetry implements RequestTelemetry {
  readonly requests: RequestMetrics;
  readonly tracing: Tracing | undefined;
  readonly nextRequestId = requestIds();
  readonly resource: Resource;
  /** The OTLP exporters, when OTLP export is on. */
  readonly exporters: OtlpExporters | undefined;
  /** Batches sampled spans for the OTLP exporter (the SDK's processor), when traces are exported. */
  readonly #spanProcessor: BatchSpanProcessor | undefined;
  readonly #loggerProvider: LoggerProvider | undefined;
  readonly #otlpLogger: ReturnType<LoggerProvider["getLogger"]> | undefined;

  private constructor(options: TelemetryOptions, exporters: OtlpExporters | undefined) {
    const { settings } = options;
    this.resource = resourceFromAttributes({
      "service.name": "portico",
      "service.version": options.version,
      "service.instance.id": options.gateway,
      "process.runtime.description": options.runtime,
    }).merge(detectResources({ detectors: [envDetector] }));
    this.requests = new RequestMetrics(settings["telemetry.metrics.histogram.buckets"], settings["telemetry.metrics.subscription-attribute"]);
    this.exporters = exporters;
    const responseHeader = settings["telemetry.traces.response-header"];
    // Traces are made when they are exported, or when the trace id goes back to clients; without
    // export every span is a non-recording one (ids only).
    if (this.exporters || responseHeader !== undefined) {
      const ratio = settings["telemetry.traces.sampling"];
      this.#spanProcessor = this.exporters ? new BatchSpanProcessor({ exporter: this.exporters.spans, ...batchOptions(options.env, "BSP") }) : undefined;
      this.tracing = new Tracing({
        sampler: this.exporters ? new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }) : new AlwaysOffSampler(),
        processor: this.#spanProcessor,
        resource: this.resource,
        scope: { name: "portico", version: options.version },
      }, {
        trustParent: settings["telemetry.traces.trust-parent"],
        responseHeader,
      });
    }
    if (this.exporters && settings["telemetry.logs.otlp.enabled"]) {
      this.#loggerProvider = new LoggerProvider({
        resource: this.resource,
        processors: [new BatchLogRecordProcessor({ exporter: this.exporters.logs, ...batchOptions(options.env, "BLRP") })],
      });
      this.#otlpLogger = this.#loggerProvider.getLogger("portico", options.version);
    }
  }

  /** Sets telemetry up, or lists why the settings cannot be honoured. */
  static async create(options: TelemetryOptions): Promise<{ telemetry: Telemetry; problems?: undefined } | { problems: string[] }> {
    const { settings } = options;
    const { target, problems } = resolveOtlpTarget(settings, options.env, options.given);
    if (settings["telemetry.logs.otlp.enabled"] && !target && !problems.length) {
      problems.push(
        "telemetry.logs.otlp.enabled: logs can only be exported with an OTLP endpoint: set telemetry.otlp.endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT)",
      );
    }
    if (problems.length) return { problems };
    const spoolBytes = settings["telemetry.otlp.spool.max-bytes"];
    // The exporters (and the protobuf code they carry) are loaded only when OTLP export is on.
    const exporters = target
      ? (await import("./otlp/exporters.ts")).createOtlpExporters({
        endpoint: target.tracesUrl,
        tracesUrl: target.tracesUrl,
        metricsUrl: target.metricsUrl,
        logsUrl: target.logsUrl,
        protocol: target.protocol,
        headers: { ...target.headers },
        timeoutMs: target.timeoutMs,
        spool: spoolBytes > 0 ? { path: settings["telemetry.otlp.spool.path"], maxBytes: spoolBytes } : undefined,
        fetch: options.fetch,
        onEvent: options.onExportEvent,
      })
      : undefined;
    return { telemetry: new Telemetry(options, exporters) };
  }

  /**
   * The reader that pushes every metric to the OTLP endpoint each `telemetry.metrics.export-interval`
   * (none without OTLP export), reading `producer` (the gateway meter's producers) besides the instruments.
   */
  otlpMetricReaders(settings: Settings, producer: MetricProducer): MetricReader[] {
    if (!this.exporters) return [];
    const interval = settings["telemetry.metrics.export-interval"];
    return [
      new PeriodicExportingMetricReader({
        exporter: this.exporters.metrics,
        exportIntervalMillis: interval,
        exportTimeoutMillis: Math.min(interval, Math.max(settings["telemetry.otlp.timeout"], 1_000)),
        metricProducers: [producer],
      }),
    ];
  }

  /** The sink that sends event and access lines as OTLP log records, when `telemetry.logs.otlp.enabled`. */
  get otlpLogSink(): ((level: string, message: string, fields: Record<string, unknown> | undefined) => void) | undefined {
    const logger = this.#otlpLogger;
    if (!logger) return undefined;
    return (level, message, fields) => {
      const attributes: LogAttributes = {};
      if (fields) {
        for (const key in fields) {
          const value = fields[key];
          if (value === undefined) continue;
          attributes[key] = typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? value : JSON.stringify(value);
        }
      }
      // A line about a request carries its trace and span ids: the record is correlated as OTLP expects, not only by attribute.
      const traceId = fields?.traceId;
      const spanId = fields?.spanId;
      const context = typeof traceId === "string" && typeof spanId === "string"
        ? trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: TraceFlags.NONE })
        : undefined;
      logger.emit({ severityNumber: SEVERITY[level] ?? SeverityNumber.INFO, severityText: level.toUpperCase(), body: message, attributes, context });
    };
  }

  /**
   * Sends what is buffered (spans, log records) and stops; the spool keeps what the collector did not
   * take. The meter's readers are shut down first by the gateway, so their last export goes out too.
   */
  async shutdown(): Promise<void> {
    await Promise.allSettled([this.#spanProcessor?.shutdown(), this.#loggerProvider?.shutdown()]);
    await this.exporters?.shutdown();
  }
}
