/**
 * The fleet view of the control plane (`GET /v1/admin/metrics`, the admin page): the traffic
 * summaries gateways send in their heartbeats (control-plane/heartbeat.ts), kept in memory for
 * METRICS_WINDOW_MS and combined per gateway, per API and for the fleet. See
 * docs/control-plane.md#fleet-metrics for the fields and how quantiles are combined.
 */
import { checkTraffic, type HeartbeatTraffic, MAX_HEARTBEAT_APIS } from "./heartbeat.ts";

/** The window the fleet view covers: summaries received in the last 5 minutes. */
export const METRICS_WINDOW_MS = 5 * 60_000;

/** Summaries received in the same 10 s (by the control plane's clock) are kept merged as one. */
export const SUMMARY_SLOT_MS = 10_000;

/** Summaries kept per gateway at most: one per slot of the window (and one more for the slot the window starts in). */
export const MAX_SUMMARIES_PER_GATEWAY = METRICS_WINDOW_MS / SUMMARY_SLOT_MS + 1;

/** APIs one kept summary holds at most; when merging makes more, the least busy are folded into `(other)`. */
const MAX_KEPT_APIS = MAX_HEARTBEAT_APIS;

const OTHER = "(other)";

/** One API's counts in a kept summary. Quantiles are kept as request-weighted sums, so merging is adding. */
interface ApiTotals {
  requests: number;
  errors4xx: number;
  errors5xx: number;
  /** Σ p50 × requests over the summaries merged. */
  p50Sum: number;
  /** Σ p99 × requests over the summaries merged. */
  p99Sum: number;
  /** The largest p99 of any one summary merged. */
  p99Max: number;
}

/** A traffic summary as kept: received at `at` (ms), covering `seconds` before it. */
interface Kept {
  at: number;
  seconds: number;
  requests: number;
  errors4xx: number;
  errors5xx: number;
  apis: Map<string, ApiTotals>;
}

interface GatewayTraffic {
  kept: Kept[];
  /** Traffic fields refused (malformed), and the last reason. */
  refused: number;
  lastRefusal?: string;
}

/** Rates and latencies of one API, one gateway or the fleet over the window. */
export interface TrafficFigures {
  readonly requests: number;
  /** Requests per second over the seconds the summaries cover (summed over gateways for the fleet). */
  readonly requestsPerSecond: number;
  readonly errors4xx: number;
  readonly errors5xx: number;
  /** errors4xx / requests (0 without requests). */
  readonly errorRate4xx: number;
  readonly errorRate5xx: number;
  /** Request-weighted mean of the summaries' p50s, in ms; null without requests. */
  readonly p50Ms: number | null;
  /** Request-weighted mean of the summaries' p99s, in ms; null without requests. */
  readonly p99Ms: number | null;
  /** The largest p99 of any one summary in the window, in ms; null without requests. */
  readonly p99MaxMs: number | null;
}

/** One API in the fleet view (per gateway, or over the fleet with the number of gateways that served it). */
export interface ApiFigures extends TrafficFigures {
  readonly name: string;
  readonly gateways?: number;
}

/** One gateway in the fleet view. */
export interface GatewayFigures extends TrafficFigures {
  readonly name: string;
  /** Summaries in the window (after merging), and the seconds they cover. */
  readonly summaries: number;
  readonly coveredSeconds: number;
  readonly lastSummary: string | null;
  /** Heartbeats whose traffic field was refused as malformed (the rest of the heartbeat was taken), and the last reason. */
  readonly trafficRefused: number;
  readonly lastTrafficRefusal: string | null;
  readonly apis: readonly ApiFigures[];
}

/** The document of `GET /v1/admin/metrics`. */
export interface FleetFigures {
  readonly at: string;
  readonly windowSeconds: number;
  readonly quantiles: string;
  readonly fleet: TrafficFigures & { readonly gateways: number };
  readonly gateways: readonly GatewayFigures[];
  readonly apis: readonly ApiFigures[];
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

function emptyTotals(): ApiTotals {
  return { requests: 0, errors4xx: 0, errors5xx: 0, p50Sum: 0, p99Sum: 0, p99Max: 0 };
}

function addTotals(into: ApiTotals, from: ApiTotals): void {
  into.requests += from.requests;
  into.errors4xx += from.errors4xx;
  into.errors5xx += from.errors5xx;
  into.p50Sum += from.p50Sum;
  into.p99Sum += from.p99Sum;
  into.p99Max = Math.max(into.p99Max, from.p99Max);
}

/** Keeps at most MAX_KEPT_APIS entries, folding the least busy into `(other)`. */
function capApis(apis: Map<string, ApiTotals>): Map<string, ApiTotals> {
  if (apis.size <= MAX_KEPT_APIS) return apis;
  const other = emptyTotals();
  const named = [...apis].filter(([name, totals]) => name === OTHER ? (addTotals(other, totals), false) : true);
  named.sort((a, b) => b[1].requests - a[1].requests);
  const kept = new Map(named.slice(0, MAX_KEPT_APIS - 1));
  for (const [, totals] of named.slice(MAX_KEPT_APIS - 1)) addTotals(other, totals);
  kept.set(OTHER, other);
  return kept;
}

function kept(traffic: HeartbeatTraffic, at: number): Kept {
  const apis = new Map<string, ApiTotals>();
  for (const a of traffic.apis) {
    apis.set(a.name, {
      requests: a.requests,
      errors4xx: a.errors4xx,
      errors5xx: a.errors5xx,
      p50Sum: a.p50Ms * a.requests,
      p99Sum: a.p99Ms * a.requests,
      p99Max: a.p99Ms,
    });
  }
  return { at, seconds: traffic.intervalSeconds, requests: traffic.requests, errors4xx: traffic.errors4xx, errors5xx: traffic.errors5xx, apis };
}

/** Two neighbouring summaries as one: counts added, the later time, both intervals. */
function merge(older: Kept, newer: Kept): Kept {
  const apis = new Map<string, ApiTotals>();
  for (const source of [older.apis, newer.apis]) {
    for (const [name, totals] of source) {
      const into = apis.get(name) ?? emptyTotals();
      addTotals(into, totals);
      apis.set(name, into);
    }
  }
  return {
    at: newer.at,
    seconds: older.seconds + newer.seconds,
    requests: older.requests + newer.requests,
    errors4xx: older.errors4xx + newer.errors4xx,
    errors5xx: older.errors5xx + newer.errors5xx,
    apis: capApis(apis),
  };
}

function figures(totals: ApiTotals, seconds: number): TrafficFigures {
  const n = totals.requests;
  return {
    requests: n,
    requestsPerSecond: seconds > 0 ? round(n / seconds, 3) : 0,
    errors4xx: totals.errors4xx,
    errors5xx: totals.errors5xx,
    errorRate4xx: n ? round(totals.errors4xx / n, 4) : 0,
    errorRate5xx: n ? round(totals.errors5xx / n, 4) : 0,
    p50Ms: n ? round(totals.p50Sum / n, 3) : null,
    p99Ms: n ? round(totals.p99Sum / n, 3) : null,
    p99MaxMs: n ? round(totals.p99Max, 3) : null,
  };
}

/**
 * The traffic summaries of every gateway over the last METRICS_WINDOW_MS, in memory only (a
 * restarted control plane starts empty). Bounded per gateway, however often it beats: summaries
 * received in the same SUMMARY_SLOT_MS are merged, so at most MAX_SUMMARIES_PER_GATEWAY are kept,
 * each of at most MAX_HEARTBEAT_APIS APIs; a malformed traffic
 * field is refused (counted, the rest of the heartbeat is taken). Only gateways with a valid token
 * reach it, so the number of gateways is the operator's.
 */
export class FleetTraffic {
  readonly #gateways = new Map<string, GatewayTraffic>();

  /** Takes a heartbeat's `traffic` field (unchecked); returns the reason when it is refused. */
  add(gateway: string, traffic: unknown, now = Date.now()): string | undefined {
    const checked = checkTraffic(traffic);
    let entry = this.#gateways.get(gateway);
    if (!entry) this.#gateways.set(gateway, entry = { kept: [], refused: 0 });
    if (!checked.ok) {
      entry.refused += 1;
      entry.lastRefusal = checked.reason;
      return checked.reason;
    }
    this.#prune(entry, now);
    const last = entry.kept.at(-1);
    const taken = kept(checked.traffic, now);
    if (last && Math.floor(last.at / SUMMARY_SLOT_MS) === Math.floor(now / SUMMARY_SLOT_MS)) entry.kept[entry.kept.length - 1] = merge(last, taken);
    else entry.kept.push(taken);
    // Only if the clock went back could there be more slots than this.
    while (entry.kept.length > MAX_SUMMARIES_PER_GATEWAY) entry.kept.splice(0, 2, merge(entry.kept[0]!, entry.kept[1]!));
    return undefined;
  }

  #prune(entry: GatewayTraffic, now: number): void {
    const from = now - METRICS_WINDOW_MS;
    let old = 0;
    while (old < entry.kept.length && entry.kept[old]!.at < from) old++;
    if (old) entry.kept.splice(0, old);
  }

  /** The fleet view now: per gateway (with its APIs), per API over the fleet, and fleet totals. */
  figures(now = Date.now()): FleetFigures {
    const gateways: GatewayFigures[] = [];
    const fleetApis = new Map<string, { totals: ApiTotals; rate: number; gateways: number }>();
    const fleet = emptyTotals();
    let fleetRate = 0;
    for (const [name, entry] of [...this.#gateways].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      this.#prune(entry, now);
      if (entry.kept.length === 0 && entry.refused === 0) {
        this.#gateways.delete(name);
        continue;
      }
      const seconds = entry.kept.reduce((sum, k) => sum + k.seconds, 0);
      const total = emptyTotals();
      const apis = new Map<string, ApiTotals>();
      for (const k of entry.kept) {
        total.requests += k.requests;
        total.errors4xx += k.errors4xx;
        total.errors5xx += k.errors5xx;
        for (const [api, totals] of k.apis) {
          const into = apis.get(api) ?? emptyTotals();
          addTotals(into, totals);
          apis.set(api, into);
          total.p50Sum += totals.p50Sum;
          total.p99Sum += totals.p99Sum;
          total.p99Max = Math.max(total.p99Max, totals.p99Max);
        }
      }
      // Quantiles of the gateway weigh each listed API's by its requests (every request is in one entry).
      const listed = [...apis.values()].reduce((sum, t) => sum + t.requests, 0);
      const gatewayFigures = figures(total, seconds);
      const weighted = listed ? { p50Ms: round(total.p50Sum / listed, 3), p99Ms: round(total.p99Sum / listed, 3) } : { p50Ms: null, p99Ms: null };
      const apiFigures = [...apis]
        .sort((a, b) => b[1].requests - a[1].requests || (a[0] < b[0] ? -1 : 1))
        .map(([api, totals]) => ({ name: api, ...figures(totals, seconds) }));
      gateways.push({
        name,
        ...gatewayFigures,
        ...weighted,
        p99MaxMs: listed ? round(total.p99Max, 3) : null,
        summaries: entry.kept.length,
        coveredSeconds: round(seconds, 3),
        lastSummary: entry.kept.length ? new Date(entry.kept.at(-1)!.at).toISOString() : null,
        trafficRefused: entry.refused,
        lastTrafficRefusal: entry.lastRefusal ?? null,
        apis: apiFigures,
      });
      addTotals(fleet, total);
      fleetRate += gatewayFigures.requestsPerSecond;
      for (const [api, totals] of apis) {
        const into = fleetApis.get(api) ?? { totals: emptyTotals(), rate: 0, gateways: 0 };
        addTotals(into.totals, totals);
        into.rate += seconds > 0 ? totals.requests / seconds : 0;
        into.gateways += 1;
        fleetApis.set(api, into);
      }
    }
    const fleetListed = [...fleetApis.values()].reduce((sum, a) => sum + a.totals.requests, 0);
    const fleetFigures = figures(fleet, 1);
    return {
      at: new Date(now).toISOString(),
      windowSeconds: METRICS_WINDOW_MS / 1000,
      quantiles:
        "p50Ms and p99Ms: request-weighted means of the quantiles the gateways reported per heartbeat; p99MaxMs: the largest p99 of any one heartbeat in the window",
      fleet: {
        ...fleetFigures,
        requestsPerSecond: round(fleetRate, 3),
        p50Ms: fleetListed ? round(fleet.p50Sum / fleetListed, 3) : null,
        p99Ms: fleetListed ? round(fleet.p99Sum / fleetListed, 3) : null,
        p99MaxMs: fleetListed ? round(fleet.p99Max, 3) : null,
        gateways: gateways.filter((g) => g.summaries > 0).length,
      },
      gateways,
      apis: [...fleetApis]
        .sort((a, b) => b[1].totals.requests - a[1].totals.requests || (a[0] < b[0] ? -1 : 1))
        .map(([name, a]) => ({ name, ...figures(a.totals, 1), requestsPerSecond: round(a.rate, 3), gateways: a.gateways })),
    };
  }
}
