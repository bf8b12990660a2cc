/**
 * The gateway's traffic summary for its heartbeats (docs/control-plane.md#traffic-in-heartbeats):
 * per API, requests, errors by class and a latency histogram, counted on the request path and taken
 * (and reset) once per heartbeat. The control plane combines the summaries of its gateways into the
 * fleet view (`GET /v1/admin/metrics` and the admin page).
 */
import { type ApiTraffic, type HeartbeatTraffic, MAX_HEARTBEAT_APIS, MAX_TRAFFIC_API_NAME, MAX_TRAFFIC_BYTES } from "../../control-plane/heartbeat.ts";

export type { ApiTraffic, HeartbeatTraffic };

/** Smallest histogram bound, in milliseconds: every faster request falls in the first bucket. */
const MIN_MS = 0.1;
/** Largest histogram bound, in milliseconds (60 s): slower requests fall in the overflow bucket. */
const MAX_MS = 60_000;
/** Log-scale buckets between MIN_MS and MAX_MS: each bound is about 1.41 times the previous one. */
const BUCKETS = 40;
/** ln of the ratio between two neighbouring bounds. */
const LOG_STEP = Math.log(MAX_MS / MIN_MS) / (BUCKETS - 1);
/** Counters per API: bucket 0 holds ≤ MIN_MS, bucket i ≤ MIN_MS·e^(i·LOG_STEP) (i < BUCKETS), bucket BUCKETS > MAX_MS. */
const SLOTS = BUCKETS + 1;
/** The upper bound of every bucket but the overflow one. */
const UPPER = Array.from({ length: BUCKETS }, (_, i) => (i === BUCKETS - 1 ? MAX_MS : MIN_MS * Math.exp(i * LOG_STEP)));

/** Distinct API names counted one by one at most; requests of further APIs are counted under `(other)`. */
export const MAX_TRACKED_APIS = 200;

/** The name under which requests that matched no API (no route, refused before routing) are counted. */
export const NO_API = "(none)";

/** The name under which APIs beyond the tracked or listed ones are counted. */
export const OTHER_APIS = "(other)";

/** Summaries in a row an API may have no requests before its counters are dropped (they are made again when it is next seen). */
const IDLE_TAKES_KEPT = 10;

/** The histogram bucket of a latency: O(1), one logarithm. */
function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0; // NaN too
  if (ms > MAX_MS) return BUCKETS;
  return Math.min(BUCKETS - 1, Math.max(1, Math.ceil(Math.log(ms / MIN_MS) / LOG_STEP - 1e-9)));
}

/** The counters of one API, made once when the API is first seen and reset in place at each take. */
class ApiCounters {
  requests = 0;
  errors4xx = 0;
  errors5xx = 0;
  min = Infinity;
  max = 0;
  idleTakes = 0;
  readonly counts = new Float64Array(SLOTS);

  reset(): void {
    this.requests = this.errors4xx = this.errors5xx = 0;
    this.min = Infinity;
    this.max = 0;
    this.counts.fill(0);
  }

  add(other: ApiCounters): void {
    this.requests += other.requests;
    this.errors4xx += other.errors4xx;
    this.errors5xx += other.errors5xx;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
    for (let i = 0; i < SLOTS; i++) this.counts[i]! += other.counts[i]!;
  }

  /**
   * The latency at quantile q (0..1) in milliseconds: the bucket holding the q·n-th request, and a
   * linear interpolation inside it, whose ends are narrowed to the smallest and largest latency
   * seen (so data of one value gives that value, and overflow beyond 60 s gives at most the largest).
   */
  quantile(q: number): number {
    const n = this.requests;
    if (n === 0) return 0;
    const rank = q * n;
    let before = 0;
    for (let i = 0; i < SLOTS; i++) {
      const count = this.counts[i]!;
      if (count === 0) continue;
      if (before + count >= rank) {
        const low = Math.max(i === 0 ? 0 : UPPER[i - 1]!, this.min);
        const high = Math.min(i === BUCKETS ? this.max : UPPER[i]!, this.max);
        const value = low + (high - low) * Math.max(0, (rank - before) / count);
        return Math.round(Math.min(Math.max(value, this.min), this.max) * 1000) / 1000;
      }
      before += count;
    }
    return Math.round(this.max * 1000) / 1000;
  }

  entry(name: string): ApiTraffic {
    return { name, requests: this.requests, errors4xx: this.errors4xx, errors5xx: this.errors5xx, p50Ms: this.quantile(0.5), p99Ms: this.quantile(0.99) };
  }
}

const encoder = new TextEncoder();
const jsonBytes = (value: unknown) => encoder.encode(JSON.stringify(value)).length;

/**
 * Per-API traffic since the last heartbeat: `record` is called once per request (O(1): a map
 * lookup, a few additions and one logarithm; nothing is allocated once an API has been seen) and
 * `take` once per heartbeat. At most MAX_TRACKED_APIS names are counted apart; requests of further
 * APIs, and those of APIs with names over MAX_TRAFFIC_API_NAME characters, go to `(other)`.
 * Latencies go to a fixed histogram per API of 40 log-scale buckets from 0.1 ms to 60 s (each
 * about 41 % wider than the one before), plus one for slower requests, from which p50 and p99 are read.
 */
export class TrafficSummary {
  readonly #apis = new Map<string, ApiCounters>();
  readonly #none = new ApiCounters();
  readonly #other = new ApiCounters();
  readonly #now: () => number;
  #since: number;

  /** `now` (milliseconds) is the clock of the intervals; tests pass their own. */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
    this.#since = now();
  }

  /** Counts one response: its API (undefined when it matched none), status and latency in milliseconds. */
  record(api: string | undefined, status: number, ms: number): void {
    const counters = api === undefined ? this.#none : (this.#apis.get(api) ?? this.#track(api));
    counters.requests++;
    if (status >= 500) counters.errors5xx++;
    else if (status >= 400) counters.errors4xx++;
    counters.counts[bucketOf(ms)]!++;
    if (ms < counters.min) counters.min = ms;
    if (ms > counters.max) counters.max = ms;
  }

  #track(api: string): ApiCounters {
    if (this.#apis.size >= MAX_TRACKED_APIS || api.length > MAX_TRAFFIC_API_NAME) return this.#other;
    const counters = new ApiCounters();
    this.#apis.set(api, counters);
    return counters;
  }

  /**
   * The summary since the previous take (or since the summary was made), and a reset. APIs with
   * requests are listed busiest first; past `maxApis` entries or MAX_TRAFFIC_BYTES of JSON, the
   * least busy are folded, histograms and all, into one `(other)` entry, so its quantiles are exact
   * to the histogram too. Counters of an API idle for 10 takes in a row are dropped, so APIs that
   * left the configuration do not hold places.
   */
  take(maxApis = MAX_HEARTBEAT_APIS): HeartbeatTraffic {
    const now = this.#now();
    const intervalSeconds = Math.max(0.001, Math.round(now - this.#since) / 1000);
    this.#since = now;
    const active: [string, ApiCounters][] = [];
    if (this.#none.requests > 0) active.push([NO_API, this.#none]);
    for (const [name, counters] of this.#apis) {
      if (counters.requests > 0) {
        counters.idleTakes = 0;
        active.push([name, counters]);
      } else if (++counters.idleTakes >= IDLE_TAKES_KEPT) this.#apis.delete(name);
    }
    active.sort((a, b) => b[1].requests - a[1].requests || (a[0] < b[0] ? -1 : 1));
    let requests = this.#other.requests, errors4xx = this.#other.errors4xx, errors5xx = this.#other.errors5xx;
    for (const [, c] of active) {
      requests += c.requests;
      errors4xx += c.errors4xx;
      errors5xx += c.errors5xx;
    }
    const apis: ApiTraffic[] = [];
    // Room is kept for the (other) entry (its counts may be long numbers) and for the summary's own fields.
    let bytes = jsonBytes(new ApiCounters().entry(OTHER_APIS)) + 60 + 200;
    let listed = 0;
    const needsOther = this.#other.requests > 0 || active.length > maxApis;
    const room = needsOther ? maxApis - 1 : maxApis;
    for (; listed < active.length && listed < room; listed++) {
      const [name, counters] = active[listed]!;
      const entry = counters.entry(name);
      const size = jsonBytes(entry) + 1;
      if (bytes + size > MAX_TRAFFIC_BYTES) break;
      bytes += size;
      apis.push(entry);
    }
    if (listed < active.length || this.#other.requests > 0) {
      const folded = new ApiCounters();
      folded.add(this.#other);
      for (let i = listed; i < active.length; i++) folded.add(active[i]![1]);
      apis.push(folded.entry(OTHER_APIS));
    }
    this.#none.reset();
    this.#other.reset();
    for (const [, counters] of active) counters.reset();
    return { intervalSeconds, requests, errors4xx, errors5xx, apis };
  }
}
