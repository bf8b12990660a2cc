import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BreakerRuleSpec } from "../../config/snapshot/build.ts";
import { HttpProblem } from "../http/problem.ts";
import { CircuitBreaker, CircuitBreakers, retryAfterMs, RuleWindow } from "./breaker.ts";

const rule = (over: Partial<BreakerRuleSpec> = {}): BreakerRuleSpec => ({
  name: "r",
  count: 3,
  percentage: undefined,
  minimumRequests: 10,
  intervalMs: 10_000,
  statusCodeRanges: [{ min: 500, max: 599 }],
  errorReasons: [],
  tripDurationMs: 5_000,
  acceptRetryAfter: false,
  ...over,
});

const none = new Headers();

/** The 503 an open breaker throws, or undefined when it admitted the call (then: whether as the probe). */
function tryAdmit(breaker: CircuitBreaker, now: number): HttpProblem | boolean {
  try {
    return breaker.admit(now);
  } catch (error) {
    assert.ok(error instanceof HttpProblem);
    return error;
  }
}

describe("RuleWindow", () => {
  it("counts failures in a sliding window of its interval", () => {
    const window = new RuleWindow(rule());
    assert.equal(window.record(0, true), false);
    assert.equal(window.record(1_000, true), false);
    // The failure at 0 has left the window 10 s later: two failures only.
    assert.equal(window.record(10_500, true), false);
    assert.equal(window.record(10_600, true), true);
  });

  it("trips a percentage rule only after minimumRequests calls", () => {
    const window = new RuleWindow(rule({ count: undefined, percentage: 50, minimumRequests: 4 }));
    assert.equal(window.record(0, true), false, "1 of 1 failed, below the minimum");
    assert.equal(window.record(1, true), false);
    assert.equal(window.record(2, false), false);
    assert.equal(window.record(3, true), true, "3 of 4 failed: 75% >= 50%");
    const lenient = new RuleWindow(rule({ count: undefined, percentage: 50, minimumRequests: 4 }));
    for (let i = 0; i < 6; i++) lenient.record(i, false);
    assert.equal(lenient.record(7, true), false, "1 of 7: 14%");
  });

  it("matches statuses by range and error causes by reason", () => {
    const window = new RuleWindow(rule({ statusCodeRanges: [{ min: 429, max: 429 }, { min: 502, max: 504 }], errorReasons: ["connection-error"] }));
    assert.deepEqual([429, 500, 502, 504, 505].map((s) => window.failsOnStatus(s)), [true, false, true, true, false]);
    assert.equal(window.failsOnError("refused"), true);
    assert.equal(window.failsOnError("other"), true);
    assert.equal(window.failsOnError("timeout"), false, "connection-error does not include timeouts");
    const timeouts = new RuleWindow(rule({ errorReasons: ["timeout"] }));
    assert.equal(timeouts.failsOnError("timeout"), true);
    assert.equal(timeouts.failsOnError("refused"), false);
  });
});

describe("CircuitBreaker", () => {
  it("trips, refuses with Retry-After, half-opens for one probe, and closes when it succeeds", () => {
    const breaker = new CircuitBreaker("b", [rule()]);
    for (let t = 0; t < 3; t++) {
      assert.equal(breaker.admit(t), false);
      breaker.respond(false, 500, none, t);
    }
    assert.equal(breaker.trips, 1);
    assert.equal(breaker.state(3), "open");
    const refused = tryAdmit(breaker, 1_000);
    assert.ok(refused instanceof HttpProblem);
    assert.equal(refused.kind, "backend-circuit-open");
    assert.equal(refused.status, 503);
    assert.equal(refused.headers?.["retry-after"], "5", "tripped at 2 ms for 5 s: 4.002 s left, rounded up");
    assert.equal(breaker.rejected, 1);

    assert.equal(breaker.state(5_002), "half-open");
    assert.equal(tryAdmit(breaker, 5_002), true, "the first call after the trip is the probe");
    const other = tryAdmit(breaker, 5_003);
    assert.ok(other instanceof HttpProblem, "others are refused while the probe is under way");
    assert.equal(other.headers?.["retry-after"], "1");
    // A call from before the trip reporting now changes nothing.
    breaker.respond(false, 200, none, 5_004);
    assert.equal(breaker.state(5_004), "half-open");
    breaker.respond(true, 200, none, 5_005);
    assert.equal(breaker.state(5_005), "closed");
    assert.equal(breaker.admit(5_006), false);
    // The windows were emptied: two new failures do not trip it.
    breaker.respond(false, 500, none, 5_007);
    breaker.respond(false, 500, none, 5_008);
    assert.equal(breaker.state(5_009), "closed");
  });

  it("trips again when the probe fails, and frees the probe when it is abandoned", () => {
    const breaker = new CircuitBreaker("b", [rule({ count: 1, errorReasons: ["connection-refused"] })]);
    breaker.failed(false, "refused", 0);
    assert.equal(breaker.state(1), "open");
    assert.equal(tryAdmit(breaker, 5_000), true);
    breaker.abandon(true);
    assert.equal(tryAdmit(breaker, 5_001), true, "an abandoned probe lets the next call probe");
    breaker.respond(true, 503, none, 5_002);
    assert.equal(breaker.trips, 2);
    assert.equal(breaker.state(5_003), "open");
    assert.ok(tryAdmit(breaker, 10_001) instanceof HttpProblem);
    assert.equal(tryAdmit(breaker, 10_002), true);
  });

  it("lengthens the trip by the backend's Retry-After when acceptRetryAfter is on (429 and 503)", () => {
    const breaker = new CircuitBreaker("b", [rule({ count: 1, statusCodeRanges: [{ min: 429, max: 429 }], acceptRetryAfter: true })]);
    breaker.respond(false, 429, new Headers({ "retry-after": "60" }), 0);
    assert.equal((tryAdmit(breaker, 30_000) as HttpProblem).headers?.["retry-after"], "30");
    assert.equal(tryAdmit(breaker, 60_000), true);
    const ignoring = new CircuitBreaker("b", [rule({ count: 1, statusCodeRanges: [{ min: 429, max: 429 }] })]);
    ignoring.respond(false, 429, new Headers({ "retry-after": "60" }), 0);
    assert.equal(tryAdmit(ignoring, 5_000), true, "without acceptRetryAfter the trip is tripDuration");
  });

  it("keeps its state across swaps, and starts new windows only when the rules change", () => {
    const breakers = new CircuitBreakers();
    const first = breakers.breaker("b", { rules: [rule()] })!;
    first.respond(false, 500, none, Date.now());
    first.respond(false, 500, none, Date.now());
    const same = breakers.breaker("b", { rules: [rule()] })!;
    assert.equal(same, first);
    same.respond(false, 500, none, Date.now());
    assert.equal(same.state(), "open", "the failures before the swap still counted");
    breakers.breaker("b", { rules: [rule({ count: 10 })] });
    assert.equal(same.state(), "open", "an open breaker stays open when its rules change");
    assert.equal(breakers.breaker("b", undefined), undefined);
    assert.notEqual(breakers.breaker("b", { rules: [rule()] }), first, "a dropped breaker is forgotten");
    breakers.retain(new Set());
    assert.equal([...breakers.all()].length, 0);
  });
});

describe("retryAfterMs", () => {
  it("reads seconds and HTTP dates", () => {
    assert.equal(retryAfterMs(new Headers({ "retry-after": "12" }), 0), 12_000);
    const now = Date.parse("2026-01-01T00:00:00Z");
    assert.equal(retryAfterMs(new Headers({ "retry-after": "Thu, 01 Jan 2026 00:00:30 GMT" }), now), 30_000);
    assert.equal(retryAfterMs(new Headers({ "retry-after": "soon" }), 0), 0);
    assert.equal(retryAfterMs(new Headers(), 0), 0);
  });
});
