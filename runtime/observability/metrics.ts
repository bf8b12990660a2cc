/** A backend's concurrency state, as the metrics read it. */
export interface GateReading {
  readonly backend: string;
  readonly inFlight: number;
  readonly queued: number;
  readonly rejected: number;
}

/** Live state other parts of the gateway own, read when the metrics are rendered (never on the request path). */
export interface MetricSources {
  /** Backend concurrency gates. */
  gates(): Iterable<GateReading>;
  /** Request bodies cut off for slowness, by reason (idle, rate, total). */
  bodyTimeouts(): Readonly<Record<string, number>>;
}

/**
 * The gateway's own counters, kept in plain numbers so the request path pays an increment, and
 * rendered in Prometheus text format on the management port.
 */
export class GatewayMetrics {
  /** Where live gauges come from; set once the gateway has built them. */
  sources: MetricSources | undefined;
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
  readonly startedAt = Date.now();

  /** Counts a response by its status class. */
  countResponse(status: number): void {
    this.#responses[(status / 100) | 0]! += 1;
  }

  /** Counts one failure of a policy. */
  policyFailed(policy: string): void {
    this.#policyFailures.set(policy, (this.#policyFailures.get(policy) ?? 0) + 1);
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
      ...(this.tokenExpiresAt === undefined
        ? []
        : [
            "# HELP portico_gateway_token_expiry_seconds Seconds until the gateway token expires (negative once expired).",
            "# TYPE portico_gateway_token_expiry_seconds gauge",
            `portico_gateway_token_expiry_seconds ${Math.round((this.tokenExpiresAt - Date.now()) / 1000)}`,
          ]),
      ...this.#sourceLines(),
      "# HELP portico_uptime_seconds Seconds since the gateway started.",
      "# TYPE portico_uptime_seconds gauge",
      `portico_uptime_seconds ${Math.round((Date.now() - this.startedAt) / 1000)}`,
    ];
    return `${lines.join("\n")}\n`;
  }

  #sourceLines(): string[] {
    if (!this.sources) return [];
    const gates = [...this.sources.gates()];
    const label = (backend: string) => `{backend=${JSON.stringify(backend)}}`;
    const timeouts = this.sources.bodyTimeouts();
    return [
      "# HELP portico_backend_requests_in_flight Requests in flight to each backend (its concurrency places in use).",
      "# TYPE portico_backend_requests_in_flight gauge",
      ...gates.map((g) => `portico_backend_requests_in_flight${label(g.backend)} ${g.inFlight}`),
      "# HELP portico_backend_requests_queued Requests waiting for a concurrency place of each backend.",
      "# TYPE portico_backend_requests_queued gauge",
      ...gates.map((g) => `portico_backend_requests_queued${label(g.backend)} ${g.queued}`),
      "# HELP portico_backend_requests_rejected_total Requests answered 503 because a backend was at its concurrency limit.",
      "# TYPE portico_backend_requests_rejected_total counter",
      ...gates.map((g) => `portico_backend_requests_rejected_total${label(g.backend)} ${g.rejected}`),
      "# HELP portico_request_body_timeouts_total Request bodies cut off (408) because the client sent them too slowly, by reason.",
      "# TYPE portico_request_body_timeouts_total counter",
      ...["idle", "rate", "total"].map((reason) => `portico_request_body_timeouts_total{reason="${reason}"} ${timeouts[reason] ?? 0}`),
    ];
  }
}
