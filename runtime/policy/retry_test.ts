import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { builtinPolicyConfig } from "../../config/schema/policies.ts";
import { HttpProblem } from "../http/problem.ts";
import { MAX_RETRY_WAIT_MS, mayRetryMethod, retriesOnProblem, retryDelayMs, retryPlan } from "./retry.ts";

const plan = (params: Record<string, unknown>) =>
  retryPlan(builtinPolicyConfig("retry", { condition: { "status-codes": [503] }, count: 5, ...params }), () => {});

describe("retry backoff (APIM's formulas)", () => {
  it("waits a fixed interval when only interval is given", () => {
    const fixed = plan({ interval: 2 });
    assert.deepEqual([1, 2, 3].map((n) => retryDelayMs(fixed, n)), [2_000, 2_000, 2_000]);
  });

  it("waits interval + (retry - 1) * delta with delta", () => {
    const linear = plan({ interval: 1, delta: 0.5 });
    assert.deepEqual([1, 2, 3].map((n) => retryDelayMs(linear, n)), [1_000, 1_500, 2_000]);
  });

  it("waits interval + (2^retry - 1) * delta (jittered ±20%) up to max-interval with delta and max-interval", () => {
    const exponential = plan({ interval: 1, delta: 1, "max-interval": 10 });
    assert.equal(retryDelayMs(exponential, 1, () => 0.5), 2_000);
    assert.equal(retryDelayMs(exponential, 2, () => 0.5), 4_000);
    assert.equal(retryDelayMs(exponential, 2, () => 0), 1_000 + 3 * 800);
    assert.equal(retryDelayMs(exponential, 2, () => 1), 1_000 + 3 * 1_200);
    assert.equal(retryDelayMs(exponential, 5, () => 0.5), 10_000, "capped by max-interval");
  });

  it("sends the first retry at once with first-fast-retry, and never waits above the cap", () => {
    const fast = plan({ interval: 3, "first-fast-retry": true });
    assert.deepEqual([1, 2].map((n) => retryDelayMs(fast, n)), [0, 3_000]);
    assert.equal(retryDelayMs(plan({ interval: 300, delta: 300 }), 5), MAX_RETRY_WAIT_MS);
  });
});

describe("what is retried", () => {
  it("retries POST and PATCH only with retry-non-idempotent", () => {
    const strict = plan({ interval: 0 });
    assert.deepEqual(["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "POST", "PATCH"].map((m) => mayRetryMethod(strict, m)), [
      true,
      true,
      true,
      true,
      true,
      false,
      false,
    ]);
    assert.equal(mayRetryMethod(plan({ interval: 0, "retry-non-idempotent": true }), "POST"), true);
  });

  it("retries unreachable backends and timeouts as the condition says", () => {
    const connections = plan({ interval: 0, condition: { "connection-errors": true } });
    assert.equal(retriesOnProblem(connections, new HttpProblem("backend-unreachable")), true);
    assert.equal(retriesOnProblem(connections, new HttpProblem("backend-timeout")), false);
    assert.equal(retriesOnProblem(connections, new HttpProblem("backend-circuit-open")), false);
    assert.equal(retriesOnProblem(connections, new HttpProblem("backend-busy")), false);
    const timeouts = plan({ interval: 0, condition: { timeouts: true } });
    assert.equal(retriesOnProblem(timeouts, new HttpProblem("backend-timeout")), true);
    assert.equal(retriesOnProblem(timeouts, new HttpProblem("backend-unreachable")), false);
    assert.deepEqual([...plan({ interval: 0, condition: { "status-codes": [502, 504] } }).statusCodes], [502, 504]);
  });
});
