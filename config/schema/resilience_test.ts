import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseIsoDuration } from "./duration.ts";
import { builtinPolicyConfig } from "./policies.ts";
import { validateConfig } from "./validate.ts";

/**
 * Problems of a configuration with one backend `main` (extra keys `backend`) and one API using
 * `sections`, as `path: message` lines without the "(got ...)" the validator adds.
 */
function problems(backend: Record<string, unknown>, sections: Record<string, unknown[]> = {}): string[] {
  const result = validateConfig({
    apis: [{ name: "a", path: "/a", backend: "main", policies: sections }],
    backends: { main: { urls: ["http://127.0.0.1:9000"], ...backend } },
  });
  return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`.replace(/ \(got [^)]*\)$/, ""));
}

const rule = (condition: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name: "r",
  failureCondition: { interval: "PT1M", statusCodeRanges: [{ min: 500, max: 599 }], ...condition },
  tripDuration: "PT30S",
  ...extra,
});

describe("ISO 8601 durations", () => {
  it("reads APIM's forms into milliseconds", () => {
    assert.equal(parseIsoDuration("PT10S"), 10_000);
    assert.equal(parseIsoDuration("PT1M"), 60_000);
    assert.equal(parseIsoDuration("PT0.5S"), 500);
    assert.equal(parseIsoDuration("PT1H30M"), 5_400_000);
    assert.equal(parseIsoDuration("P1DT2H"), 93_600_000);
    assert.equal(parseIsoDuration("P2D"), 172_800_000);
    assert.equal(parseIsoDuration("pt5s"), 5_000);
  });

  it("refuses empty, partial and calendar forms", () => {
    for (const bad of ["P", "PT", "P1DT", "PT1S2M", "P1M", "P1W", "PT-1S", "10s", "PT1.S", ""]) assert.equal(parseIsoDuration(bad), undefined, bad);
  });
});

describe("backends.NAME.circuitBreaker", () => {
  it("accepts APIM's rule shape with both duration forms", () => {
    assert.deepEqual(problems({ circuitBreaker: { rules: [rule({ count: 3 })] } }), []);
    assert.deepEqual(
      problems({
        circuitBreaker: {
          rules: [
            rule({ percentage: 50, minimumRequests: 20, interval: "10s", errorReasons: ["timeout", "connection-refused"] }, {
              tripDuration: 5,
              acceptRetryAfter: true,
            }),
          ],
        },
      }),
      [],
    );
  });

  it("reports each problem with its path", () => {
    assert.deepEqual(problems({ circuitBreaker: { rules: [rule({})] } }), [
      "backends.main.circuitBreaker.rules[0].failureCondition: needs exactly one of count and percentage",
    ]);
    assert.deepEqual(problems({ circuitBreaker: { rules: [rule({ count: 3, percentage: 10 })] } }), [
      "backends.main.circuitBreaker.rules[0].failureCondition: needs exactly one of count and percentage",
    ]);
    assert.deepEqual(problems({ circuitBreaker: { rules: [rule({ count: 3, minimumRequests: 5 })] } }), [
      "backends.main.circuitBreaker.rules[0].failureCondition.minimumRequests: minimumRequests applies to percentage rules only",
    ]);
    assert.deepEqual(problems({ circuitBreaker: { rules: [rule({ count: 3, statusCodeRanges: [] })] } }), [
      "backends.main.circuitBreaker.rules[0].failureCondition: needs statusCodeRanges, errorReasons or both (what counts as a failure)",
    ]);
    const many = problems({
      circuitBreaker: {
        rules: [rule({ count: 1, interval: "PT", statusCodeRanges: [{ min: 599, max: 500 }], errorReasons: ["Server errors"] }, { tripDuration: "0s" })],
      },
    });
    assert.ok(many.some((p) => p.startsWith("backends.main.circuitBreaker.rules[0].failureCondition.interval: expected a duration")), many.join("\n"));
    assert.ok(many.includes("backends.main.circuitBreaker.rules[0].failureCondition.statusCodeRanges[0].max: min must not be above max"), many.join("\n"));
    assert.ok(many.some((p) => p.startsWith("backends.main.circuitBreaker.rules[0].failureCondition.errorReasons[0]:")), many.join("\n"));
    assert.ok(many.some((p) => p.startsWith("backends.main.circuitBreaker.rules[0].tripDuration: expected a duration above zero")), many.join("\n"));
    assert.deepEqual(problems({ circuitBreaker: { rules: [rule({ count: 1 }), rule({ count: 2 })] } }), [
      'backends.main.circuitBreaker.rules[1].name: rule name "r" is used twice',
    ]);
    assert.ok(problems({ circuitBreaker: { rules: [] } }).some((p) => p.startsWith("backends.main.circuitBreaker.rules:")));
  });
});

describe("retry and forward-request parameters", () => {
  const retry = (params: Record<string, unknown>) => ({ policy: "retry", with: { condition: { "status-codes": [503] }, count: 2, interval: 1, ...params } });

  it("hands the host step APIM's attributes as strings, durations in milliseconds", () => {
    assert.deepEqual(
      builtinPolicyConfig("retry", {
        condition: { "status-codes": [502, 503], "connection-errors": true },
        count: 3,
        interval: "PT0.5S",
        delta: 1,
        "max-interval": "10s",
      }),
      {
        count: "3",
        interval: "500",
        "max-interval": "10000",
        delta: "1000",
        "first-fast-retry": "false",
        "retry-non-idempotent": "false",
        "status-codes": "502,503",
        "connection-errors": "true",
        timeouts: "false",
      },
    );
    assert.deepEqual(builtinPolicyConfig("forward-request", { timeout: 20, "buffer-request-body": true }), {
      timeout: "20000",
      "follow-redirects": "false",
      "buffer-request-body": "true",
      "buffer-response": "false",
      "fail-on-error-status-code": "false",
    });
  });

  it("takes the forward-request timeout in APIM's ISO 8601 form too", () => {
    assert.equal(builtinPolicyConfig("forward-request", { timeout: "PT1M30S" }).timeout, "90000");
    assert.equal(builtinPolicyConfig("forward-request", { timeout: "500ms" }).timeout, "500");
  });

  it("reports bad parameters and sections with their paths", () => {
    assert.deepEqual(problems({}, { backend: [retry({ condition: {} })] }), [
      "apis[0].policies.backend[0].with.condition: needs status-codes, connection-errors: true or timeouts: true",
    ]);
    assert.deepEqual(problems({}, { backend: [retry({ "max-interval": 5 })] }), [
      "apis[0].policies.backend[0].with.max-interval: max-interval needs delta (it caps the exponential backoff)",
    ]);
    assert.ok(problems({}, { backend: [retry({ count: 51 })] }).some((p) => p.startsWith("apis[0].policies.backend[0].with.count:")));
    assert.ok(problems({}, { backend: [retry({ interval: "PT301S" })] }).some((p) => p.startsWith("apis[0].policies.backend[0].with.interval:")));
    assert.ok(problems({}, { outbound: [retry({})] }).some((p) => p.startsWith("apis[0].policies.outbound[0]") && p.includes("retry")));
    assert.ok(
      problems({}, { inbound: [{ policy: "forward-request", with: {} }] }).some((p) => p.startsWith("apis[0].policies.inbound[0]")),
      "forward-request belongs in the backend section",
    );
    assert.ok(problems({}, { backend: [{ policy: "forward-request", with: { "http-version": "2" } }] }).some((p) => p.includes("http-version")));
  });
});
