/**
 * The `retry` built-in (docs/resilience.md): a host step that leaves retry instructions on the
 * exchange (`exchange.retry`), which the proxy honours around its backend call (runtime/proxy/proxy.ts).
 * APIM's attributes and backoff formulas; the condition is structured (status codes, connection
 * errors, timeouts) instead of an expression.
 */
import type { HttpProblem } from "../http/problem.ts";
import type { PolicyExchange } from "./abi.ts";
import type { ChainStep, FailureMode } from "./chain.ts";
import type { HostPolicyContext } from "./host.ts";

/** Longest single wait between two attempts, whatever the formula gives. */
export const MAX_RETRY_WAIT_MS = 300_000;

/** What the proxy needs to retry a backend call; made once per step, shared by its requests. */
export interface RetryPlan {
  /** Retries after the first attempt (APIM's `count`). */
  readonly count: number;
  readonly intervalMs: number;
  readonly maxIntervalMs: number | undefined;
  readonly deltaMs: number | undefined;
  /** The first retry goes at once. */
  readonly firstFastRetry: boolean;
  /** POST and PATCH are retried too. */
  readonly nonIdempotent: boolean;
  /** Backend statuses that call for a retry. */
  readonly statusCodes: ReadonlySet<number>;
  /** Whether an unreachable backend (502 backend-unreachable) is retried. */
  readonly connectionErrors: boolean;
  /** Whether a backend that sent no headers in time (504 backend-timeout) is retried. */
  readonly timeouts: boolean;
  /** Counts one retry of a call to `backend` (metrics). */
  readonly counted: (backend: string) => void;
}

/**
 * How long to wait before retry number `retry` (1 for the first), in ms, with APIM's formulas:
 * `interval` alone, a fixed wait; with `delta`, linear (`interval + (retry - 1) * delta`); with
 * `delta` and `max-interval`, exponential (`interval + (2^retry - 1) * random(0.8 * delta, 1.2 * delta)`,
 * at most `max-interval`). `first-fast-retry` makes the first retry go at once. Never above MAX_RETRY_WAIT_MS.
 */
export function retryDelayMs(plan: RetryPlan, retry: number, random: () => number = Math.random): number {
  if (retry === 1 && plan.firstFastRetry) return 0;
  const { intervalMs, deltaMs, maxIntervalMs } = plan;
  let wait = intervalMs;
  if (deltaMs !== undefined && maxIntervalMs !== undefined) {
    const jittered = deltaMs * (0.8 + 0.4 * random());
    wait = Math.min(maxIntervalMs, intervalMs + (2 ** retry - 1) * jittered);
  } else if (deltaMs !== undefined) {
    wait = intervalMs + (retry - 1) * deltaMs;
  }
  return Math.round(Math.min(wait, MAX_RETRY_WAIT_MS));
}

/** Methods never retried unless `retry-non-idempotent: true`. */
const NON_IDEMPOTENT = new Set(["POST", "PATCH"]);

/** Whether a request of `method` may be retried under `plan`. */
export function mayRetryMethod(plan: RetryPlan, method: string): boolean {
  return plan.nonIdempotent || !NON_IDEMPOTENT.has(method);
}

/** Whether a failed attempt (the proxy's HttpProblem) calls for a retry. */
export function retriesOnProblem(plan: RetryPlan, problem: HttpProblem): boolean {
  return (problem.kind === "backend-unreachable" && plan.connectionErrors) || (problem.kind === "backend-timeout" && plan.timeouts);
}

/** The plan the parameters (config/schema/resilience.ts RetryParams, as strings) describe. */
export function retryPlan(config: Readonly<Record<string, string>>, counted: (backend: string) => void): RetryPlan {
  const optional = (key: string) => (config[key] === undefined ? undefined : Number(config[key]));
  return Object.freeze({
    count: Number(config.count),
    intervalMs: Number(config.interval),
    maxIntervalMs: optional("max-interval"),
    deltaMs: optional("delta"),
    firstFastRetry: config["first-fast-retry"] === "true",
    nonIdempotent: config["retry-non-idempotent"] === "true",
    statusCodes: new Set((config["status-codes"] ?? "").split(",").filter(Boolean).map(Number)),
    connectionErrors: config["connection-errors"] === "true",
    timeouts: config.timeouts === "true",
    counted,
  });
}

/** The retry step: sets the exchange's retry plan (a later retry in the chain replaces an earlier one). */
export class RetryStep implements ChainStep {
  readonly body = undefined;
  readonly #plan: RetryPlan;

  constructor(readonly name: string, readonly failure: FailureMode, config: Readonly<Record<string, string>>, context: HostPolicyContext) {
    const metrics = context.metrics;
    this.#plan = retryPlan(config, (backend) => metrics?.backendRetried?.(backend));
  }

  has(hook: string): boolean {
    return hook === "on_request";
  }

  call(_hook: string, exchange: PolicyExchange): Promise<void> {
    exchange.retry = this.#plan;
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
