/**
 * `/metrics` in Prometheus text format, produced by OpenTelemetry's own Prometheus exporter from
 * the gateway's instruments (no hand-written exposition). The exporter's HTTP server is not
 * started: the management port serves its output.
 */
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import type { MetricProducer } from "@opentelemetry/sdk-metrics";

/** The content type of Prometheus's text exposition format (what a scrape expects). */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A Prometheus reader: register `exporter` with a MeterProvider, and call `text()` for each scrape. */
export interface PrometheusReader {
  /** The MetricReader to give the MeterProvider (`readers`). */
  readonly exporter: PrometheusExporter;
  /** Collects every instrument and producer and serializes them in Prometheus text format. */
  text(): Promise<string>;
}

/** The part of Node's ServerResponse the exporter's request handler writes to. */
interface HandlerResponse {
  statusCode: number;
  setHeader(name: string, value: string): void;
  end(text: string): void;
}

/**
 * Creates the exporter with its server not started, scope labels left out (Portico's names are
 * unique across its scopes; without them every sample reads as it did before OpenTelemetry) and
 * `target_info` kept (the resource: service name and SDK). `producers` add metric data the SDK does
 * not aggregate itself (histograms fed on the hot path, see runtime/observability/histogram.ts).
 */
export function createPrometheusReader(producers: MetricProducer[] = []): PrometheusReader {
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, metricProducers: producers });
  return {
    exporter,
    text() {
      // The exporter's own handler collects and serializes; it only needs a response to end.
      return new Promise<string>((resolve) => {
        const response: HandlerResponse = { statusCode: 200, setHeader() {}, end: resolve };
        exporter.getMetricsRequestHandler(undefined as never, response as never);
      });
    },
  };
}
