import type { BreakerErrorReason, BreakerRuleSpec } from "../../config/snapshot/build.ts";
import { HttpProblem } from "../http/problem.ts";
import type { UpstreamErrorCause } from "../observability/request-metrics.ts";

/** Buckets of a rule's sliding window: the window moves on by a tenth of its interval at a time. */
const BUCKETS = 10;

/** Longest trip a backend's `Retry-After` may ask for (acceptRetryAfter), so one bad header cannot close a backend for days. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/** How long a half-open breaker's probe may take before another call may probe (a trip, if longer). */
export const PROBE_GRACE_MS = 60_000;

/** The `errorReasons` each failure cause of a backend call matches (`connection-error`: any but a timeout). */
const REASONS_OF: Readonly<Record<UpstreamErrorCause, readonly BreakerErrorReason[]>> = {
  refused: ["connection-refused", "connection-error"],
  reset: ["connection-reset", "connection-error"],
  tls: ["tls", "connection-error"],
  dns: ["dns", "connection-error"],
  other: ["connection-error"],
  timeout: ["timeout"],
};

/**
 * One rule's calls and failures over the last `intervalMs`, in BUCKETS buckets keyed by their
 * number since the epoch: a bucket older than the window is reset when its slot comes round again,
 * so recording is a few additions and the sums a loop over ten slots.
 */
export class RuleWindow {
  readonly #bucketMs: number;
  readonly #stamps = new Float64Array(BUCKETS).fill(-Infinity);
  readonly #calls = new Uint32Array(BUCKETS);
  readonly #failures = new Uint32Array(BUCKETS);

  constructor(readonly rule: BreakerRuleSpec) {
    this.#bucketMs = Math.max(1, Math.ceil(rule.intervalMs / BUCKETS));
  }

  /** Counts a call (failed or not) at `now` (ms); true when the rule's condition is now met. */
  record(now: number, failed: boolean): boolean {
    const index = Math.floor(now / this.#bucketMs);
    const slot = index % BUCKETS;
    if (this.#stamps[slot] !== index) {
      this.#stamps[slot] = index;
      this.#calls[slot] = 0;
      this.#failures[slot] = 0;
    }
    this.#calls[slot]! += 1;
    if (!failed) return false;
    this.#failures[slot]! += 1;
    let calls = 0;
    let failures = 0;
    for (let i = 0; i < BUCKETS; i++) {
      if (this.#stamps[i]! > index - BUCKETS) {
        calls += this.#calls[i]!;
        failures += this.#failures[i]!;
      }
    }
    const { count, percentage, minimumRequests } = this.rule;
    if (count !== undefined) return failures >= count;
    return calls >= minimumRequests && failures * 100 >= percentage! * calls;
  }

  /** Forgets every call (the breaker closed after a successful probe). */
  reset(): void {
    this.#stamps.fill(-Infinity);
  }

  /** Whether a backend status counts as a failure. */
  failsOnStatus(status: number): boolean {
    for (const range of this.rule.statusCodeRanges) if (status >= range.min && status <= range.max) return true;
    return false;
  }

  /** Whether a failed call's cause counts as a failure. */
  failsOnError(cause: UpstreamErrorCause): boolean {
    const reasons = this.rule.errorReasons;
    if (!reasons.length) return false;
    for (const reason of REASONS_OF[cause]) if (reasons.includes(reason)) return true;
    return false;
  }
}

/** The breaker states; as a metric value: closed 0, half-open 1, open 2. */
export type BreakerState = "closed" | "open" | "half-open";

/**
 * The circuit breaker of one backend (`backends.NAME.circuitBreaker`, APIM's rule shape; see
 * docs/resilience.md). Closed, it counts each call's outcome in every rule's window; when a rule's
 * condition is met it trips: for `tripDuration` (longer when `acceptRetryAfter` and the backend's
 * 429/503 said `Retry-After`) calls are refused with 503 `backend-circuit-open` and `Retry-After`
 * without reaching the backend. Then it half-opens: one call goes through as a probe while the
 * others are still refused; the probe's success closes the breaker (windows emptied), its failure
 * trips it again. Outcomes of calls that started before a trip are ignored. Breakers live as long
 * as their backend's name, across configuration swaps.
 */
export class CircuitBreaker {
  #windows: readonly RuleWindow[];
  #rulesKey: string;
  #state: BreakerState = "closed";
  #openUntil = 0;
  #probing = false;
  #probeStarted = 0;
  /** Times the breaker tripped (a failed probe included). */
  trips = 0;
  /** Calls refused while open or half-open. */
  rejected = 0;

  constructor(readonly backend: string, rules: readonly BreakerRuleSpec[]) {
    this.#windows = rules.map((r) => new RuleWindow(r));
    this.#rulesKey = JSON.stringify(rules);
  }

  /** New rules (a configuration swap): windows are made afresh only when the rules changed; the state stays. */
  setRules(rules: readonly BreakerRuleSpec[]): void {
    const key = JSON.stringify(rules);
    if (key === this.#rulesKey) return;
    this.#rulesKey = key;
    this.#windows = rules.map((r) => new RuleWindow(r));
  }

  /** The state now (an open breaker whose trip is over reads as half-open). */
  state(now = Date.now()): BreakerState {
    return this.#state === "open" && now >= this.#openUntil ? "half-open" : this.#state;
  }

  /**
   * Lets a call through: false for an ordinary call, true for the probe of a half-open breaker;
   * throws the 503 HttpProblem when the breaker is open (or half-open with its probe under way).
   * Every admitted call reports back once: `succeeded`/`respond`, `failed`, or `abandon`.
   */
  admit(now = Date.now()): boolean {
    if (this.#state === "closed") return false;
    if (now >= this.#openUntil) {
      this.#state = "half-open";
      // A probe that has not reported back within PROBE_GRACE_MS (or a trip, if longer) no longer holds the others back.
      if (!this.#probing || now - this.#probeStarted > this.#longestTrip()) {
        this.#probing = true;
        this.#probeStarted = now;
        return true;
      }
    }
    this.rejected += 1;
    const seconds = this.#state === "open" ? Math.max(1, Math.ceil((this.#openUntil - now) / 1000)) : 1;
    throw new HttpProblem("backend-circuit-open", {
      detail: `The backend is failing and is not being called; try again in ${seconds} second${seconds === 1 ? "" : "s"}.`,
      headers: { "retry-after": String(seconds) },
      internal: `the circuit breaker of backend "${this.backend}" is ${this.#state}`,
    });
  }

  /** A call's response arrived with `status`; `headers` are read for Retry-After only when a rule accepts it. */
  respond(probe: boolean, status: number, headers: Headers, now = Date.now()): void {
    let tripped: RuleWindow | undefined;
    for (const window of this.#windows) {
      const failed = window.failsOnStatus(status);
      if (probe || this.#state !== "closed") {
        if (failed) tripped ??= window;
      } else if (window.record(now, failed)) tripped ??= window;
    }
    this.#settle(probe, tripped, now, tripped?.rule.acceptRetryAfter && (status === 429 || status === 503) ? retryAfterMs(headers, now) : 0);
  }

  /** A call failed before its response headers arrived, for `cause`. */
  failed(probe: boolean, cause: UpstreamErrorCause, now = Date.now()): void {
    let tripped: RuleWindow | undefined;
    for (const window of this.#windows) {
      const failed = window.failsOnError(cause);
      if (probe || this.#state !== "closed") {
        if (failed) tripped ??= window;
      } else if (window.record(now, failed)) tripped ??= window;
    }
    this.#settle(probe, tripped, now, 0);
  }

  /** An admitted call ended without an outcome about the backend (the client's body failed, the concurrency gate refused it). */
  abandon(probe: boolean): void {
    if (probe) this.#probing = false;
  }

  #settle(probe: boolean, tripped: RuleWindow | undefined, now: number, retryAfter: number): void {
    if (probe) {
      this.#probing = false;
      if (!tripped) {
        this.#state = "closed";
        for (const window of this.#windows) window.reset();
        return;
      }
    } else if (!tripped || this.#state !== "closed") return;
    this.trips += 1;
    this.#state = "open";
    this.#openUntil = now + Math.max(tripped.rule.tripDurationMs, Math.min(retryAfter, MAX_RETRY_AFTER_MS));
  }

  #longestTrip(): number {
    let longest = 0;
    for (const window of this.#windows) longest = Math.max(longest, window.rule.tripDurationMs);
    return Math.max(longest, PROBE_GRACE_MS);
  }
}

/** A `Retry-After` header in milliseconds from `now` (delay-seconds or an HTTP date); 0 when absent or not understood. */
export function retryAfterMs(headers: Headers, now: number): number {
  const value = headers.get("retry-after")?.trim();
  if (!value) return 0;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? 0 : Math.max(0, at - now);
}

/**
 * The circuit breakers of a gateway's backends by name, kept across configuration swaps (as the
 * concurrency gates are) so that a swap neither closes an open breaker nor forgets the failures
 * counted so far. A backend whose configuration drops its breaker loses it.
 */
export class CircuitBreakers {
  readonly #breakers = new Map<string, CircuitBreaker>();

  /** The breaker of a backend with the rules of the configuration being compiled; undefined when it has none. */
  breaker(backend: string, spec: { readonly rules: readonly BreakerRuleSpec[] } | undefined): CircuitBreaker | undefined {
    if (!spec) {
      this.#breakers.delete(backend);
      return undefined;
    }
    let breaker = this.#breakers.get(backend);
    if (breaker) breaker.setRules(spec.rules);
    else this.#breakers.set(backend, breaker = new CircuitBreaker(backend, spec.rules));
    return breaker;
  }

  /** Forgets the breakers of backends a new configuration no longer has. */
  retain(backends: ReadonlySet<string>): void {
    for (const name of this.#breakers.keys()) if (!backends.has(name)) this.#breakers.delete(name);
  }

  /** Every breaker, for metrics. */
  all(): IterableIterator<CircuitBreaker> {
    return this.#breakers.values();
  }
}
