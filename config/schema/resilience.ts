/**
 * Backend resilience in configuration (docs/resilience.md): a backend's circuit breaker
 * (`backends.NAME.circuitBreaker`, APIM's rule shape) and the parameters of the `retry` and
 * `forward-request` policies, with APIM's names. Durations take Portico's form ("10s") or APIM's
 * ISO 8601 ("PT10S").
 */
import { z } from "zod";
import { ApimDuration } from "./duration.ts";

const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "expected a name of letters, digits, '.', '_' or '-'");

/**
 * The connection failures a breaker rule may count (`errorReasons`): the causes the gateway tells
 * apart (runtime/observability/request-metrics.ts `upstreamErrorCause`), and `connection-error` for
 * any failure to reach the backend except a timeout.
 */
export const BREAKER_ERROR_REASONS = ["connection-refused", "connection-reset", "timeout", "tls", "dns", "connection-error"] as const;

/** One of BREAKER_ERROR_REASONS. */
export type BreakerErrorReason = (typeof BREAKER_ERROR_REASONS)[number];

/** Requests a `percentage` rule needs in its interval before it may trip, unless `minimumRequests` says otherwise. */
export const DEFAULT_MINIMUM_REQUESTS = 10;

/** A range of HTTP statuses, both ends included. */
const StatusCodeRange = z
  .object({ min: z.number().int().min(100).max(599), max: z.number().int().min(100).max(599) })
  .strict()
  .refine((r) => r.min <= r.max, { message: "min must not be above max", path: ["max"] });

const Positive = (example: string) => ApimDuration.refine((ms) => ms > 0, `expected a duration above zero, such as "${example}"`);

/** When a rule counts a call as failed, and how many failures in `interval` trip the breaker. */
const FailureCondition = z
  .object({
    /** Failures in the interval that trip the breaker. */
    count: z.number().int().min(1).max(1_000_000).optional(),
    /** Share of failed calls (percent) in the interval that trips it, once `minimumRequests` calls were made. */
    percentage: z.number().int().min(1).max(100).optional(),
    /** Portico's addition: calls a `percentage` rule needs in its interval before it may trip. */
    minimumRequests: z.number().int().min(1).max(1_000_000).optional(),
    /** The sliding window the failures are counted in (at most a day). */
    interval: Positive("1m").refine((ms) => ms <= 86_400_000, "expected at most a day"),
    /** Backend statuses that count as failures. */
    statusCodeRanges: z.array(StatusCodeRange).default([]),
    /** Connection failures that count (BREAKER_ERROR_REASONS). */
    errorReasons: z.array(z.enum(BREAKER_ERROR_REASONS)).default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.count === undefined) === (c.percentage === undefined)) ctx.addIssue({ code: "custom", message: "needs exactly one of count and percentage" });
    if (c.minimumRequests !== undefined && c.percentage === undefined) {
      ctx.addIssue({ code: "custom", message: "minimumRequests applies to percentage rules only", path: ["minimumRequests"] });
    }
    if (!c.statusCodeRanges.length && !c.errorReasons.length) {
      ctx.addIssue({ code: "custom", message: "needs statusCodeRanges, errorReasons or both (what counts as a failure)" });
    }
  });

/** One breaker rule (APIM's `rules[]`). */
const BreakerRule = z
  .object({
    name: Name,
    failureCondition: FailureCondition,
    /** How long the breaker stays open once tripped, before it lets one probe through. */
    tripDuration: Positive("30s").refine((ms) => ms <= 86_400_000, "expected at most a day"),
    /** Whether a backend's `Retry-After` on a 429 or 503 that trips the breaker lengthens the trip. */
    acceptRetryAfter: z.boolean().default(false),
  })
  .strict();

/** A backend's circuit breaker (APIM's `circuitBreaker`): rules, each able to trip it. */
export const CircuitBreaker = z
  .object({ rules: z.array(BreakerRule).min(1).max(16) })
  .strict()
  .superRefine((b, ctx) => {
    const seen = new Set<string>();
    b.rules.forEach((rule, i) => {
      if (seen.has(rule.name)) ctx.addIssue({ code: "custom", message: `rule name "${rule.name}" is used twice`, path: ["rules", i, "name"] });
      seen.add(rule.name);
    });
  });

/** A circuit breaker as configured, durations in milliseconds. */
export type CircuitBreakerConfig = z.output<typeof CircuitBreaker>;

const Flag = z.boolean().default(false).transform(String);

/** Longest wait between retries (APIM's limit for `interval`). */
const MAX_RETRY_WAIT_MS = 300_000;
const RetryWait = ApimDuration.refine((ms) => ms <= MAX_RETRY_WAIT_MS, "expected at most 300 seconds");

/**
 * The `retry` policy (APIM's attributes; `condition` is structured instead of an expression):
 * parsed, then handed to the host step as strings (durations in milliseconds).
 */
export const RetryParams = z
  .object({
    condition: z
      .object({
        "status-codes": z.array(z.number().int().min(100).max(599)).default([]),
        "connection-errors": z.boolean().default(false),
        timeouts: z.boolean().default(false),
      })
      .strict()
      .refine((c) => c["status-codes"].length > 0 || c["connection-errors"] || c.timeouts, {
        message: "needs status-codes, connection-errors: true or timeouts: true",
      }),
    count: z.number().int().min(1).max(50),
    interval: RetryWait,
    "max-interval": RetryWait.optional(),
    delta: RetryWait.optional(),
    "first-fast-retry": Flag,
    "retry-non-idempotent": Flag,
  })
  .strict()
  .refine((p) => p["max-interval"] === undefined || p.delta !== undefined, {
    message: "max-interval needs delta (it caps the exponential backoff)",
    path: ["max-interval"],
  })
  .transform((p) => ({
    count: String(p.count),
    interval: String(p.interval),
    "max-interval": p["max-interval"] === undefined ? undefined : String(p["max-interval"]),
    delta: p.delta === undefined ? undefined : String(p.delta),
    "first-fast-retry": p["first-fast-retry"],
    "retry-non-idempotent": p["retry-non-idempotent"],
    "status-codes": p.condition["status-codes"].join(","),
    "connection-errors": String(p.condition["connection-errors"]),
    timeouts: String(p.condition.timeouts),
  }));

/** The `forward-request` policy's parameters, handed to the host step as strings (the timeout in milliseconds). */
export const ForwardRequestParams = z
  .object({
    timeout: ApimDuration.refine((ms) => ms > 0 && ms <= 86_400_000, 'expected a duration above zero and at most a day, such as "60s"').optional(),
    "follow-redirects": Flag,
    "buffer-request-body": Flag,
    "buffer-response": Flag,
    "fail-on-error-status-code": Flag,
  })
  .strict()
  .transform((p) => ({ ...p, timeout: p.timeout === undefined ? undefined : String(p.timeout) }));
