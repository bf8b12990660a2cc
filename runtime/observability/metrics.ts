import type { StateStoreStats } from "../policy/state.ts";
import type { UpstreamPoolStats } from "../upstream/client.ts";

/**
 * The gateway's bounded structures, read when `/metrics` is scraped (each part is set by the gateway
 * that has it): their sizes, and how often a bound bit. See docs/limits.md.
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
  /** Request bodies cut off for slowness, by reason (idle, rate, total). */
  bodyTimeouts?: Readonly<Record<string, number>>;
}

/** A backend's concurrency state, as the metrics read it. */
export interface GateReading {
  readonly backend: string;
  readonly inFlight: number;
  readonly queued: number;
  readonly rejected: number;
}

/**
 * The gateway's own counters, kept in plain numbers so the request path pays an increment, and
 * rendered in Prometheus text format on the management port.
 */
export class GatewayMetrics {
  /** Responses by status class: index 1..5 for 1xx..5xx. */
  readonly #responses = [0, 0, 0, 0, 0, 0];
  /** Failures (traps, errors, budget exhaustion, back-off refusals) per policy name. */
  readonly #policyFailures = new Map<string, number>();
  configApplied = 0;
  configRejected = 0;
  configRevision = 0;
  /** Pulls from the control plane that failed (unreachable, refused token, server error, bad module). */
  syncFailures = 0;
  /** When the gateway token expires (ms since the epoch), in control-plane mode. */
  tokenExpiresAt: number | undefined;
  /** Tokens validate-jwt refused, by reason (a fixed set: runtime/policy/jwt/verify.ts `Refusal`). */
  readonly #jwtRefusals = new Map<string, number>();
  /** Failed fetches of validate-jwt's OpenID configurations and JWKS, by reason (unreachable, status, invalid). */
  readonly #jwtKeysFetchFailures = new Map<string, number>();
  /** Heartbeats the control plane did not take, by reason (`too-large` for a 413, else the failure kind). */
  readonly #heartbeatFailures = new Map<string, number>();
  /** Bounded structures whose sizes and evictions are reported. */
  readonly bounds: BoundedStats = {};
  readonly startedAt = Date.now();

  /** Counts a response by its status class. */
  countResponse(status: number): void {
    this.#responses[(status / 100) | 0]! += 1;
  }

  /** Counts one failure of a policy. */
  policyFailed(policy: string): void {
    this.#policyFailures.set(policy, (this.#policyFailures.get(policy) ?? 0) + 1);
  }

  /** Counts a token validate-jwt refused. */
  jwtRefused(reason: string): void {
    this.#jwtRefusals.set(reason, (this.#jwtRefusals.get(reason) ?? 0) + 1);
  }

  /** Counts a failed fetch of validate-jwt's signing keys (OpenID configuration or JWKS). */
  jwtKeysFetchFailed(reason: string): void {
    this.#jwtKeysFetchFailures.set(reason, (this.#jwtKeysFetchFailures.get(reason) ?? 0) + 1);
  }

  /** Counts a heartbeat the control plane did not take. */
  heartbeatFailed(reason: string): void {
    this.#heartbeatFailures.set(reason, (this.#heartbeatFailures.get(reason) ?? 0) + 1);
  }

  /** Prometheus text exposition of every counter. */
  render(): string {
    const lines = [
      "# HELP portico_responses_total Responses sent on the traffic port, by status class.",
      "# TYPE portico_responses_total counter",
      ...[1, 2, 3, 4, 5].map((c) => `portico_responses_total{code="${c}xx"} ${this.#responses[c]}`),
      "# HELP portico_policy_failures_total Policy calls that failed (trap, error, spent budget, or backing off), by policy.",
      "# TYPE portico_policy_failures_total counter",
      ...[...this.#policyFailures].map(([policy, n]) => `portico_policy_failures_total{policy=${JSON.stringify(policy)}} ${n}`),
      "# HELP portico_jwt_validation_failures_total Tokens validate-jwt refused, by reason.",
      "# TYPE portico_jwt_validation_failures_total counter",
      ...[...this.#jwtRefusals].map(([reason, n]) => `portico_jwt_validation_failures_total{reason=${JSON.stringify(reason)}} ${n}`),
      "# HELP portico_jwt_keys_fetch_failures_total Fetches of validate-jwt's OpenID configurations and JWKS that failed (unreachable, status, invalid).",
      "# TYPE portico_jwt_keys_fetch_failures_total counter",
      ...[...this.#jwtKeysFetchFailures].map(([reason, n]) => `portico_jwt_keys_fetch_failures_total{reason=${JSON.stringify(reason)}} ${n}`),
      "# HELP portico_config_applied_total Configurations compiled and made live.",
      "# TYPE portico_config_applied_total counter",
      `portico_config_applied_total ${this.configApplied}`,
      "# HELP portico_config_rejected_total Configurations refused because they did not validate or compile.",
      "# TYPE portico_config_rejected_total counter",
      `portico_config_rejected_total ${this.configRejected}`,
      "# HELP portico_config_revision Revision of the live configuration in this process.",
      "# TYPE portico_config_revision gauge",
      `portico_config_revision ${this.configRevision}`,
      "# HELP portico_config_sync_failures_total Configuration pulls from the control plane that failed.",
      "# TYPE portico_config_sync_failures_total counter",
      `portico_config_sync_failures_total ${this.syncFailures}`,
      ...(this.tokenExpiresAt === undefined ? [] : [
        "# HELP portico_gateway_token_expiry_seconds Seconds until the gateway token expires (negative once expired).",
        "# TYPE portico_gateway_token_expiry_seconds gauge",
        `portico_gateway_token_expiry_seconds ${Math.round((this.tokenExpiresAt - Date.now()) / 1000)}`,
      ]),
      "# HELP portico_config_heartbeat_failures_total Heartbeats the control plane did not take, by reason (too-large: refused with 413).",
      "# TYPE portico_config_heartbeat_failures_total counter",
      ...[...this.#heartbeatFailures].map(([reason, n]) => `portico_config_heartbeat_failures_total{reason=${JSON.stringify(reason)}} ${n}`),
      ...this.#renderBounds(),
      "# HELP portico_uptime_seconds Seconds since the gateway started.",
      "# TYPE portico_uptime_seconds gauge",
      `portico_uptime_seconds ${Math.round((Date.now() - this.startedAt) / 1000)}`,
    ];
    return `${lines.join("\n")}\n`;
  }

  #renderBounds(): string[] {
    const { state, modules, upstreamPools, bodies, gates, bodyTimeouts } = this.bounds;
    const lines: string[] = [];
    const metric = (name: string, type: "gauge" | "counter", help: string, value: number) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    if (state) {
      metric(
        "portico_policy_state_bytes",
        "gauge",
        "Bytes the policy state store counts for its counters and cache entries (policy.state.max-bytes bounds it).",
        state.bytes,
      );
      metric("portico_policy_state_max_bytes", "gauge", "The policy state store's byte budget (policy.state.max-bytes).", state.maxBytes);
      metric("portico_policy_state_entries", "gauge", "Counters and cache entries in the policy state store.", state.entries);
      metric(
        "portico_policy_state_evictions_total",
        "counter",
        "Live counters and cache entries dropped, least recently used first, to keep the policy state store within its budget.",
        state.evictions,
      );
    }
    if (modules) {
      metric("portico_policy_modules_compiled", "gauge", "Compiled policy modules held, built-ins included.", modules.compiled);
      metric(
        "portico_policy_modules_evicted_total",
        "counter",
        "Compiled policy modules dropped: unused by the configuration that went live, or beyond the unused ones kept between swaps.",
        modules.evictions,
      );
    }
    if (upstreamPools) {
      metric("portico_upstream_pools", "gauge", "Backend connection pools open for backends with their own TLS material.", upstreamPools.open);
      metric(
        "portico_upstream_pools_evicted_total",
        "counter",
        "Backend connection pools closed, least recently used first, to stay within net.client.tls.max-pools.",
        upstreamPools.evictions,
      );
    }
    if (bodies) {
      metric("portico_policy_body_buffered_bytes", "gauge", "Bytes of request and response bodies buffered for policies right now.", bodies.bytes);
      metric(
        "portico_policy_body_max_buffered_bytes",
        "gauge",
        "Bytes of bodies that may be buffered for policies at once (policy.body.max-buffered).",
        bodies.maxBytes,
      );
      metric(
        "portico_policy_body_refused_total",
        "counter",
        "Requests answered 503 because buffering their body for a policy would pass policy.body.max-buffered.",
        bodies.refusals,
      );
    }
    /** A family with one sample per label value. */
    const family = (name: string, type: "gauge" | "counter", help: string, label: string, samples: readonly (readonly [string, number])[]) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples.map(([value, n]) => `${name}{${label}=${JSON.stringify(value)}} ${n}`));
    if (gates) {
      const all = [...gates.all()];
      family(
        "portico_backend_requests_in_flight",
        "gauge",
        "Requests in flight to each backend (its concurrency places in use).",
        "backend",
        all.map((g) => [g.backend, g.inFlight]),
      );
      family(
        "portico_backend_requests_queued",
        "gauge",
        "Requests waiting for a concurrency place of each backend.",
        "backend",
        all.map((g) => [g.backend, g.queued]),
      );
      family(
        "portico_backend_requests_rejected_total",
        "counter",
        "Requests answered 503 because a backend was at its concurrency limit.",
        "backend",
        all.map((g) => [g.backend, g.rejected]),
      );
    }
    if (bodyTimeouts) {
      family(
        "portico_request_body_timeouts_total",
        "counter",
        "Request bodies cut off (408) because the client sent them too slowly, by reason.",
        "reason",
        ["idle", "rate", "total"].map((reason) => [reason, bodyTimeouts[reason] ?? 0]),
      );
    }
    return lines;
  }
}
