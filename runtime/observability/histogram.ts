/**
 * Histograms the request path can feed for the price of a few comparisons and two additions: a
 * preallocated array of bucket counts per series, read by OpenTelemetry at collection through a
 * MetricProducer (measured here: an OTel `histogram.record` with a few attributes costs a
 * microsecond or more a call, too much on the hot path).
 */
import { type HrTime, ValueType } from "@opentelemetry/api";
import { millisToHrTime } from "@opentelemetry/core";
import { emptyResource } from "@opentelemetry/resources";
import {
  AggregationTemporality,
  type CollectionResult,
  type DataPoint,
  DataPointType,
  type Histogram,
  type HistogramMetricData,
  type MetricProducer,
} from "@opentelemetry/sdk-metrics";

/**
 * One histogram series: counts per bucket of fixed upper bounds (inclusive, as OpenTelemetry's
 * explicit-bucket histograms; the last bucket is everything above the last bound), their sum,
 * minimum and maximum. Cumulative: nothing is ever reset, so any number of readers can read it.
 */
export class HistogramCells {
  /** Counts per bucket: one per bound, plus the overflow bucket. */
  readonly counts: Float64Array;
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Adds one value (in the unit of the bounds). No allocation. */
  record(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]! += 1;
    this.count += 1;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  /** The series as an OpenTelemetry histogram value (a copy). */
  value(): Histogram {
    return {
      buckets: { boundaries: [...this.bounds], counts: Array.from(this.counts) },
      count: this.count,
      sum: this.sum,
      min: this.count ? this.min : undefined,
      max: this.count ? this.max : undefined,
    };
  }
}

/** What names a histogram metric, as OpenTelemetry describes it. */
export interface HistogramDescription {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
}

/** A histogram's series with their attributes. */
export interface HistogramSeries {
  readonly description: HistogramDescription;
  /** Every series, with its attributes; a metric without series is left out. */
  series(): Iterable<readonly [attributes: Record<string, string>, cells: HistogramCells]>;
}

/**
 * A MetricProducer for the histograms `sources` give (cumulative, from `startTime`), under the
 * instrumentation scope `scope`: pass it to a reader's `metricProducers` (Prometheus or periodic
 * OTLP); its resource is ignored, the reader's SDK resource is used.
 */
export function histogramProducer(
  scope: { name: string; version?: string },
  sources: () => Iterable<HistogramSeries>,
  startTime: HrTime = millisToHrTime(Date.now()),
): MetricProducer {
  return {
    collect(): Promise<CollectionResult> {
      const endTime = millisToHrTime(Date.now());
      const metrics: HistogramMetricData[] = [];
      for (const source of sources()) {
        const dataPoints: DataPoint<Histogram>[] = [];
        for (const [attributes, cells] of source.series()) dataPoints.push({ startTime, endTime, attributes, value: cells.value() });
        if (!dataPoints.length) continue;
        metrics.push({
          descriptor: { ...source.description, valueType: ValueType.DOUBLE },
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.HISTOGRAM,
          dataPoints,
        });
      }
      return Promise.resolve({ resourceMetrics: { resource: emptyResource(), scopeMetrics: metrics.length ? [{ scope, metrics }] : [] }, errors: [] });
    },
  };
}
