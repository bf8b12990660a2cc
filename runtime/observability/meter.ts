/**
 * The gateway's MeterProvider: an instance (never the global one, which Deno's built-in telemetry
 * may own), with the Prometheus reader when `/metrics` is on and whatever other readers the caller
 * adds (the OTLP periodic reader), all fed by the same producers.
 */
import type { Meter } from "@opentelemetry/api";
import { emptyResource, type Resource } from "@opentelemetry/resources";
import { type CollectionResult, MeterProvider, type MetricProducer, type MetricReader } from "@opentelemetry/sdk-metrics";
import type { Settings } from "../../config/schema/settings.ts";
import { createPrometheusReader, type PrometheusReader } from "./prometheus.ts";

/** The instrumentation scope of the gateway's own instruments and producers. */
export const METER_SCOPE = "portico";

/** What the caller adds to the gateway's meter. */
export interface GatewayMeterOptions {
  /** The resource (service name and attributes); the SDK's default when omitted. */
  readonly resource?: Resource;
  /** The version of the instrumentation scope (the gateway's version). */
  readonly version?: string;
  /** Producers of metric data the SDK does not aggregate (histograms fed on the hot path); more can be added later. */
  readonly producers?: readonly MetricProducer[];
  /**
   * Further readers (such as a PeriodicExportingMetricReader to OTLP), made with the producer that
   * stands for every producer of this meter, present and future: pass it to their `metricProducers`.
   */
  readonly readers?: (producer: MetricProducer) => MetricReader[];
}

/** The gateway's meter and what reads it. */
export interface GatewayMeter {
  readonly provider: MeterProvider;
  /** The meter of the `portico` scope, for the gateway's instruments. */
  readonly meter: Meter;
  /** The Prometheus reader, when `telemetry.metrics.prometheus.enabled`. */
  readonly prometheus: PrometheusReader | undefined;
  /** Adds a producer every reader collects from now on. */
  addProducer(producer: MetricProducer): void;
  /** Flushes and stops every reader. */
  shutdown(): Promise<void>;
}

/**
 * Builds the gateway's MeterProvider from its settings: the Prometheus reader (when
 * `telemetry.metrics.prometheus.enabled`) and the caller's readers, all reading the same
 * instruments and producers.
 */
export function createGatewayMeter(settings: Pick<Settings, "telemetry.metrics.prometheus.enabled">, options: GatewayMeterOptions = {}): GatewayMeter {
  const producers = [...(options.producers ?? [])];
  // One producer given to every reader that merges the others, so producers added after the
  // readers were made (the gateway's own, which need the meter first) are read too.
  const all: MetricProducer = {
    async collect(collectOptions): Promise<CollectionResult> {
      const results = await Promise.all(producers.map((p) => p.collect(collectOptions)));
      // Readers keep the SDK's resource and ignore a producer's.
      return {
        resourceMetrics: { resource: emptyResource(), scopeMetrics: results.flatMap((r) => r.resourceMetrics.scopeMetrics) },
        errors: results.flatMap((r) => r.errors),
      };
    },
  };
  const prometheus = settings["telemetry.metrics.prometheus.enabled"] ? createPrometheusReader([all]) : undefined;
  const readers = [...(prometheus ? [prometheus.exporter] : []), ...(options.readers?.(all) ?? [])];
  const provider = new MeterProvider({ resource: options.resource, readers });
  return {
    provider,
    meter: provider.getMeter(METER_SCOPE, options.version),
    prometheus,
    addProducer: (producer) => void producers.push(producer),
    shutdown: () => provider.shutdown(),
  };
}
