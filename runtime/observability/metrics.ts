import { type Meter, type ObservableResult, ValueType } from "@opentelemetry/api";
import type { RedisStats } from "../state/redis.ts";
import type { SharedCounterStats } from "../state/shared-counters.ts";
import { millisToHrTime } from "@opentelemetry/core";
import type { MetricProducer } from "@opentelemetry/sdk-metrics";
import type { StateStoreStats } from "../policy/state.ts";
import type { PolicyUsage } from "../policy/chain.ts";
import type { PolicyFailureKind } from "../policy/extism.ts";
import type { UpstreamPoolStats } from "../upstream/client.ts";
import { HistogramCells, histogramProducer, type HistogramSeries } from "./histogram.ts";
import { METER_SCOPE } from "./meter.ts";
import { EventLoopDelay, registerProcessMetrics } from "./system-metrics.ts";

/**
 * The gateway's bounded structures, read when metrics are collected (each part is set by the
 * gateway that has it): their sizes, and how often a bound bit. See docs/limits.md.
 */
export interface BoundedStats {
  /** The policy state store (counters and cache). */
  state?: StateStoreStats;
  /** The compiled policy module cache. */
  modules?: { readonly compiled: number; readonly evictions: number };
  /** Backend connection pools per TLS material (Node and Deno). */
  upstreamPools?: UpstreamPoolStats;
  /** Request and response bodies buffered for policies. */
  bodies?: { readonly bytes: number; readonly maxBytes: number; readonly refusals: number };
  /** Backend concurrency gates (in flight, queued, refused). */
  gates?: { all(): Iterable<GateReading> };
  /** Health of each backend's pool members (active checks, passive ejection). */
  members?: { all(): Iterable<MemberReading> };
  /** Backend circuit breakers (state, trips, refusals); docs/resilience.md. */
  breakers?: { all(): Iterable<BreakerReading> };
  /** Request bodies cut off for slowness, by reason (idle, rate, total). */
  bodyTimeouts?: Readonly<Record<string, number>>;
  /** Linear memory (64 KiB pages) of the live configuration's policy instances, by policy name. */
  policyMemory?: () => Promise<ReadonlyMap<string, number> | undefined>;
  /** The log writer's buffer (telemetry.logs.buffer): lines dropped because stdout did not take them. */
  logs?: { readonly droppedLines: number };
  /** The response and value cache's in-process store (cache.internal.max-bytes). */
  cache?: { readonly bytes: number; readonly maxBytes: number; readonly entries: number; readonly evictions: number };
  /** The Redis of the shared counters (docs/shared-state.md), when the settings name one. */
  redis?: { readonly connection: RedisStats; readonly counters: SharedCounterStats };
  /** Open WebSocket connections the traffic listeners relay (docs/protocols.md). */
  websockets?: { readonly size: number };
}

/** A backend's concurrency state, as the metrics read it. */
export interface GateReading {
  readonly backend: string;
  readonly inFlight: number;
  readonly queued: number;
  readonly rejected: number;
}

/** A pool member's health, as the metrics read it. */
export interface MemberReading {
  readonly backend: string;
  /** The member's URL as configured (backend URLs carry no credentials or query). */
  readonly url: string;
  /** Whether it gets traffic: its active checks pass and it is not ejected. */
  readonly up: boolean;
  readonly ejections: number;
}

/** A backend's circuit breaker, as the metrics read it. */
export interface BreakerReading {
  readonly backend: string;
  state(): "closed" | "open" | "half-open";
  readonly trips: number;
  readonly rejected: number;
}

/** `portico.backend.circuit_breaker.state` values. */
const BREAKER_STATE_VALUE = { closed: 0, "half-open": 1, open: 2 } as const;

/** The configuration that is live, as the metrics report it. */
export interface AppliedConfig {
  /** The control plane's revision (a backup's, when started from one); in standalone mode, this process's count of configurations applied. */
  readonly revision: number | undefined;
  /** The configuration's sha256, as the control plane names it (the view's ETag; a file's bytes in standalone mode). */
  readonly hash: string;
  /** Where it came from. */
  readonly source: "control-plane" | "backup" | "file";
}

/** What the gateway metrics describe besides their counters. */
export interface GatewayMetricsOptions {
  /** The gateway's version (build info). */
  readonly version: string;
  /** The runtime's name and version (build info), such as `bun` and `1.2.3`. */
  readonly runtime: { readonly name: string; readonly version: string };
  /** Process CPU, memory and event-loop delay (`telemetry.metrics.system.enabled`). */
  readonly system: boolean;
}

/** Upper bounds of the policy duration buckets, in seconds: policies run in microseconds to milliseconds. */
export const POLICY_DURATION_BOUNDS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];

/**
 * One policy's accounting, fed on the request path with plain additions (PolicyChain calls
 * `record` once per call) and read by observable instruments and the histogram producer.
 */
export class PolicyStats implements PolicyUsage {
  /** Calls, failed ones included. */
  calls = 0;
  /** Fuel the calls used (WebAssembly policies; built-ins run on the host use none). */
  fuel = 0;
  /** Failed calls by kind. */
  readonly failures = new Map<PolicyFailureKind, number>();
  /** Call durations, in seconds. */
  readonly duration = new HistogramCells(POLICY_DURATION_BOUNDS);

  /** One call: how long it took, the fuel it used, and how it failed if it did. */
  record(failure: PolicyFailureKind | undefined, ms: number, fuel: number): void {
    this.calls += 1;
    this.fuel += fuel;
    this.duration.record(ms / 1000);
    if (failure !== undefined) this.failures.set(failure, (this.failures.get(failure) ?? 0) + 1);
  }
}

/**
 * The gateway's metrics. The request path and the control loops only add to plain numbers (and
 * the policy duration histograms' preallocated buckets); OpenTelemetry reads them through
 * observable instruments on the meter given, and the histograms through `producer`, when a reader
 * collects (a Prometheus scrape, an OTLP export). Nothing here calls a synchronous instrument.
 */
export class GatewayMetrics {
  /** Accounting per policy name (failures, calls, fuel, durations). */
  readonly #policies = new Map<string, PolicyStats>();
  /** Configurations compiled and made live. */
  configApplied = 0;
  /** Configurations refused (invalid, or the compile failed). */
  configRejected = 0;
  /** The live configuration, once one is. */
  config: AppliedConfig | undefined;
  /** Pulls from the control plane that failed (unreachable, refused token, server error, bad module). */
  syncFailures = 0;
  /** Control-plane mode: when the gateway last learned it is in step with its control plane (ms since the epoch; undefined: not yet). */
  sync: { lastSuccessAt: number | undefined } | undefined;
  /** When the gateway token expires (ms since the epoch), in control-plane mode. */
  tokenExpiresAt: number | undefined;
  /** Tokens validate-jwt refused, by reason (a fixed set: runtime/policy/jwt/verify.ts `Refusal`). */
  readonly #jwtRefusals = new Map<string, number>();
  /** Failed fetches of validate-jwt's OpenID configurations and JWKS, by reason (unreachable, status, invalid). */
  readonly #jwtKeysFetchFailures = new Map<string, number>();
  /** cache-lookup hits and misses, by `result|store`. */
  readonly #cacheLookups = new Map<string, number>();
  /** What cache-store did with responses, by outcome. */
  readonly #cacheStores = new Map<string, number>();
  /** Backend calls the retry policy made again, by backend. */
  readonly #retries = new Map<string, number>();
  /** Heartbeats the control plane did not take, by reason (`too-large` for a 413, else the failure kind). */
  readonly #heartbeatFailures = new Map<string, number>();
  /** Bounded structures whose sizes and evictions are reported. */
  readonly bounds: BoundedStats = {};
  readonly startedAt = Date.now();
  readonly #eventLoop: EventLoopDelay | undefined;
  /** The histograms (policy durations, event-loop delay) for every reader: add it to the meter's producers. */
  readonly producer: MetricProducer;

  constructor(meter: Meter, options: GatewayMetricsOptions) {
    this.#register(meter, options);
    if (options.system) {
      registerProcessMetrics(meter);
      this.#eventLoop = new EventLoopDelay().start();
    }
    const policyDurations: HistogramSeries = {
      description: {
        name: "portico.policy.duration_seconds",
        description: "Time a policy call took, failed calls included, by policy.",
        unit: "s",
      },
      series: () => [...this.#policies].filter(([, s]) => s.calls > 0).map(([policy, s]) => [{ policy }, s.duration] as const),
    };
    const histograms = this.#eventLoop ? [policyDurations, this.#eventLoop] : [policyDurations];
    this.producer = histogramProducer({ name: METER_SCOPE, version: options.version }, () => histograms, millisToHrTime(this.startedAt));
  }

  /** The accounting of a policy, by the name it was used under (made on first use). */
  policy(name: string): PolicyStats {
    let stats = this.#policies.get(name);
    if (!stats) this.#policies.set(name, stats = new PolicyStats());
    return stats;
  }

  /** Counts a token validate-jwt refused. */
  jwtRefused(reason: string): void {
    this.#jwtRefusals.set(reason, (this.#jwtRefusals.get(reason) ?? 0) + 1);
  }

  /** Counts a failed fetch of validate-jwt's signing keys (OpenID configuration or JWKS). */
  jwtKeysFetchFailed(reason: string): void {
    this.#jwtKeysFetchFailures.set(reason, (this.#jwtKeysFetchFailures.get(reason) ?? 0) + 1);
  }

  /** Counts a cache-lookup: a hit or a miss, in the internal or the external store. */
  cacheLookup(result: "hit" | "miss", store: "internal" | "external"): void {
    const key = `${result}|${store}`;
    this.#cacheLookups.set(key, (this.#cacheLookups.get(key) ?? 0) + 1);
  }

  /** Counts what cache-store did with a response (stored, not-cacheable, too-large, failed). */
  cacheStore(outcome: string): void {
    this.#cacheStores.set(outcome, (this.#cacheStores.get(outcome) ?? 0) + 1);
  }

  /** Counts a backend call the retry policy made again. */
  backendRetried(backend: string): void {
    this.#retries.set(backend, (this.#retries.get(backend) ?? 0) + 1);
  }

  /** Counts a heartbeat the control plane did not take. */
  heartbeatFailed(reason: string): void {
    this.#heartbeatFailures.set(reason, (this.#heartbeatFailures.get(reason) ?? 0) + 1);
  }

  /** Stops the event-loop sampling timer. */
  close(): void {
    this.#eventLoop?.stop();
  }

  #register(meter: Meter, options: GatewayMetricsOptions): void {
    const INT = ValueType.INT;
    /** An observable counter or gauge whose callback observes what `read` gives. */
    const counter = (name: string, description: string, read: (r: ObservableResult) => void, unit?: string) =>
      meter.createObservableCounter(name, { description, unit, valueType: INT }).addCallback(read);
    const gauge = (name: string, description: string, read: (r: ObservableResult) => void | Promise<void>, unit?: string, valueType = INT) =>
      meter.createObservableGauge(name, { description, unit, valueType }).addCallback(read);
    const each = (map: ReadonlyMap<string, number>, label: string) => (r: ObservableResult) => {
      for (const [value, n] of map) r.observe(n, { [label]: value });
    };

    gauge(
      "portico.build.info",
      "Always 1: the gateway's version and runtime as attributes.",
      (r) => r.observe(1, { version: options.version, runtime: options.runtime.name, "runtime.version": options.runtime.version }),
    );
    gauge("portico.uptime_seconds", "Seconds since the gateway started.", (r) => r.observe(Math.round((Date.now() - this.startedAt) / 1000)), "s");

    // Policies.
    counter("portico.policy.calls", "Policy calls, failed ones included, by policy.", (r) => {
      for (const [policy, s] of this.#policies) if (s.calls) r.observe(s.calls, { policy });
    }, "{call}");
    counter(
      "portico.policy.failures",
      "Policy calls that failed, by policy and kind: trap, out-of-fuel, memory-cap, guest-error (the policy returned an error), host-error (a host function or built-in failed), backing-off (refused without running after failures in a row).",
      (r) => {
        for (const [policy, s] of this.#policies) for (const [kind, n] of s.failures) r.observe(n, { policy, kind });
      },
      "{call}",
    );
    counter("portico.policy.fuel", "Fuel (function entries plus loop iterations) policy calls used, by policy.", (r) => {
      for (const [policy, s] of this.#policies) if (s.calls) r.observe(s.fuel, { policy });
    }, "{fuel}");
    gauge("portico.policy.memory.pages", "Linear memory (64 KiB pages) of the live configuration's policy instances, by policy.", async (r) => {
      const pages = await this.bounds.policyMemory?.();
      for (const [policy, n] of pages ?? []) r.observe(n, { policy });
    }, "{page}");
    counter("portico.jwt.validation.failures", "Tokens validate-jwt refused, by reason.", each(this.#jwtRefusals, "reason"), "{token}");
    counter(
      "portico.jwt.keys_fetch.failures",
      "Fetches of validate-jwt's OpenID configurations and JWKS that failed (unreachable, status, invalid).",
      each(this.#jwtKeysFetchFailures, "reason"),
      "{fetch}",
    );

    counter("portico.cache.lookups", "Responses cache-lookup looked up, by result (hit, miss) and store (internal, external).", (r) => {
      for (const [key, n] of this.#cacheLookups) {
        const [result, store] = key.split("|");
        r.observe(n, { result, store });
      }
    }, "{lookup}");
    counter(
      "portico.cache.stores",
      "Responses cache-store saw, by outcome: stored, not-cacheable (status, Cache-Control, Set-Cookie, Vary: *), too-large (cache.entry.max-bytes), failed (the store failed).",
      each(this.#cacheStores, "outcome"),
      "{request}",
    );

    // Configuration.
    counter("portico.config.applied", "Configurations compiled and made live.", (r) => r.observe(this.configApplied));
    counter("portico.config.rejected", "Configurations refused because they did not validate or compile.", (r) => r.observe(this.configRejected));
    gauge(
      "portico.config.revision",
      "Revision of the live configuration as the control plane numbers it (source control-plane or backup), with its hash; in standalone mode (source file), the count of configurations this process applied.",
      (r) => {
        const config = this.config;
        if (config?.revision !== undefined) r.observe(config.revision, { hash: config.hash, source: config.source });
      },
    );
    counter("portico.config.sync.failures", "Configuration pulls from the control plane that failed.", (r) => r.observe(this.syncFailures));
    gauge(
      "portico.config.sync.age_seconds",
      "Seconds since the gateway last found itself in step with the control plane (a pull answered and applied, or unchanged); since start-up while it has not yet.",
      (r) => {
        if (this.sync) r.observe((Date.now() - (this.sync.lastSuccessAt ?? this.startedAt)) / 1000);
      },
      "s",
      ValueType.DOUBLE,
    );
    gauge("portico.gateway.token.expiry_seconds", "Seconds until the gateway token expires (negative once expired).", (r) => {
      if (this.tokenExpiresAt !== undefined) r.observe(Math.round((this.tokenExpiresAt - Date.now()) / 1000));
    }, "s");
    counter(
      "portico.config.heartbeat.failures",
      "Heartbeats the control plane did not take, by reason (too-large: refused with 413).",
      each(this.#heartbeatFailures, "reason"),
      "{heartbeat}",
    );

    // Bounded structures (docs/limits.md): reported only where the gateway has them.
    const bounded = (kind: "counter" | "gauge", name: string, description: string, read: (b: BoundedStats) => number | undefined, unit?: string) =>
      (kind === "counter" ? counter : gauge)(name, description, (r) => {
        const value = read(this.bounds);
        if (value !== undefined) r.observe(value);
      }, unit);
    bounded(
      "gauge",
      "portico.policy.state.bytes",
      "Bytes the policy state store counts for its counters and cache entries (policy.state.max-bytes bounds it).",
      (b) => b.state?.bytes,
      "By",
    );
    bounded("gauge", "portico.websocket.connections", "Open WebSocket connections relayed to backends.", (b) => b.websockets?.size, "{connection}");
    bounded("gauge", "portico.policy.state.max_bytes", "The policy state store's byte budget (policy.state.max-bytes).", (b) => b.state?.maxBytes, "By");
    bounded("gauge", "portico.policy.state.entries", "Counters and cache entries in the policy state store.", (b) => b.state?.entries, "{entry}");
    bounded(
      "counter",
      "portico.policy.state.evictions",
      "Live counters and cache entries dropped, least recently used first, to keep the policy state store within its budget.",
      (b) => b.state?.evictions,
      "{entry}",
    );
    bounded("gauge", "portico.policy.modules.compiled", "Compiled policy modules held, built-ins included.", (b) => b.modules?.compiled, "{module}");
    bounded(
      "counter",
      "portico.policy.modules.evicted",
      "Compiled policy modules dropped: unused by the configuration that went live, or beyond the unused ones kept between swaps.",
      (b) => b.modules?.evictions,
      "{module}",
    );
    bounded(
      "gauge",
      "portico.upstream.pools",
      "Backend connection pools open for backends with their own TLS material.",
      (b) => b.upstreamPools?.open,
      "{pool}",
    );
    bounded(
      "counter",
      "portico.upstream.pools.evicted",
      "Backend connection pools closed, least recently used first, to stay within net.client.tls.max-pools.",
      (b) => b.upstreamPools?.evictions,
      "{pool}",
    );
    bounded(
      "gauge",
      "portico.policy.body.buffered_bytes",
      "Bytes of request and response bodies buffered for policies right now.",
      (b) => b.bodies?.bytes,
      "By",
    );
    bounded(
      "gauge",
      "portico.policy.body.max_buffered_bytes",
      "Bytes of bodies that may be buffered for policies at once (policy.body.max-buffered).",
      (b) => b.bodies?.maxBytes,
      "By",
    );
    bounded(
      "counter",
      "portico.policy.body.refused",
      "Requests answered 503 because buffering their body for a policy would pass policy.body.max-buffered.",
      (b) => b.bodies?.refusals,
      "{request}",
    );
    const perGate = (read: (g: GateReading) => number) => (r: ObservableResult) => {
      for (const g of this.bounds.gates?.all() ?? []) r.observe(read(g), { backend: g.backend });
    };
    gauge("portico.backend.requests.in_flight", "Requests in flight to each backend (its concurrency places in use).", perGate((g) => g.inFlight), "{request}");
    gauge("portico.backend.requests.queued", "Requests waiting for a concurrency place of each backend.", perGate((g) => g.queued), "{request}");
    counter(
      "portico.backend.requests.rejected",
      "Requests answered 503 because a backend was at its concurrency limit.",
      perGate((g) => g.rejected),
      "{request}",
    );
    const perMember = (read: (m: MemberReading) => number) => (r: ObservableResult) => {
      for (const m of this.bounds.members?.all() ?? []) r.observe(read(m), { backend: m.backend, member: m.url });
    };
    gauge(
      "portico.backend.member.healthy",
      "1 while a backend pool member gets traffic (its health checks pass and it is not ejected), else 0.",
      perMember((m) => (m.up ? 1 : 0)),
    );
    counter(
      "portico.backend.member.ejections",
      "Times passive ejection took a backend pool member out after consecutive failed calls.",
      perMember((m) => m.ejections),
      "{event}",
    );
    const perBreaker = (read: (b: BreakerReading) => number) => (r: ObservableResult) => {
      for (const b of this.bounds.breakers?.all() ?? []) r.observe(read(b), { backend: b.backend });
    };
    gauge(
      "portico.backend.circuit_breaker.state",
      "State of each backend's circuit breaker: 0 closed, 1 half-open (its trip is over; a probe may go through), 2 open.",
      perBreaker((b) => BREAKER_STATE_VALUE[b.state()]),
    );
    counter(
      "portico.backend.circuit_breaker.trips",
      "Times each backend's circuit breaker tripped (opened), failed probes included.",
      perBreaker((b) => b.trips),
      "{trip}",
    );
    counter(
      "portico.backend.circuit_breaker.rejected",
      "Requests answered 503 (backend-circuit-open) without calling the backend because its circuit breaker was open.",
      perBreaker((b) => b.rejected),
      "{request}",
    );
    counter("portico.backend.retries", "Backend calls the retry policy made again (each retry once), by backend.", each(this.#retries, "backend"), "{request}");
    counter("portico.request.body.timeouts", "Request bodies cut off (408) because the client sent them too slowly, by reason.", (r) => {
      const timeouts = this.bounds.bodyTimeouts;
      if (timeouts) { for (const reason of ["idle", "rate", "total"]) r.observe(timeouts[reason] ?? 0, { reason }); }
    }, "{request}");
    bounded(
      "gauge",
      "portico.cache.internal.bytes",
      "Bytes the in-process cache store counts for its entries (cache.internal.max-bytes bounds it).",
      (b) => b.cache?.bytes,
      "By",
    );
    bounded(
      "gauge",
      "portico.cache.internal.max_bytes",
      "The in-process cache store's byte budget (cache.internal.max-bytes).",
      (b) => b.cache?.maxBytes,
      "By",
    );
    bounded("gauge", "portico.cache.internal.entries", "Entries in the in-process cache store.", (b) => b.cache?.entries, "{entry}");
    bounded(
      "counter",
      "portico.cache.internal.evictions",
      "Live entries dropped, least recently used first, to keep the in-process cache store within its budget.",
      (b) => b.cache?.evictions,
      "{entry}",
    );
    bounded(
      "gauge",
      "portico.redis.up",
      "1 while the shared counters' Redis is used, 0 while it is unavailable.",
      (b) => b.redis && (b.redis.connection.up ? 1 : 0),
    );
    bounded(
      "counter",
      "portico.redis.outages",
      "Times Redis became unavailable (a failed or late call, or a lost connection).",
      (b) => b.redis?.connection.outages,
      "{outage}",
    );
    bounded("counter", "portico.redis.failures", "Calls to Redis that failed or passed cache.redis.timeout.", (b) => b.redis?.connection.failures, "{call}");
    bounded(
      "counter",
      "portico.redis.fallbacks",
      "Policy calls counted in-process because Redis was unavailable (redis-failure: open).",
      (b) => b.redis?.counters.fallbacks,
      "{call}",
    );
    bounded(
      "counter",
      "portico.redis.refused",
      "Requests answered 503 shared-state-unavailable because Redis was unavailable (redis-failure: closed).",
      (b) => b.redis?.counters.refusals,
      "{request}",
    );
    bounded(
      "counter",
      "portico.logs.dropped",
      "Log lines dropped because stdout did not take them and the log buffer (telemetry.logs.buffer) was full.",
      (b) => b.logs?.droppedLines,
      "{line}",
    );
  }
}
