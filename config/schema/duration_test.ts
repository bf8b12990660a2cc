import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Duration, parseDuration } from "./duration.ts";
import { validateConfig } from "./validate.ts";

describe("parseDuration", () => {
  it("reads every unit into milliseconds", () => {
    assert.equal(parseDuration("500ms"), 500);
    assert.equal(parseDuration("30s"), 30_000);
    assert.equal(parseDuration("2m"), 120_000);
    assert.equal(parseDuration("1h"), 3_600_000);
    assert.equal(parseDuration("30d"), 30 * 86_400_000);
  });

  it("counts a bare number as seconds, as text or as a number", () => {
    assert.equal(parseDuration("30"), 30_000);
    assert.equal(parseDuration(30), 30_000);
    assert.equal(parseDuration(0.25), 250);
    assert.equal(parseDuration(0), 0);
  });

  it("accepts fractions and spaces around and before the unit", () => {
    assert.equal(parseDuration("1.5s"), 1_500);
    assert.equal(parseDuration("0.5m"), 30_000);
    assert.equal(parseDuration("  10s "), 10_000);
    assert.equal(parseDuration("10 ms"), 10);
  });

  it("refuses anything else", () => {
    for (const bad of ["", " ", "soon", "10x", "s", "-1s", "1e3", "1.s", ".5s", "10S", "5 minutes", "1h30m", "ms"]) {
      assert.equal(parseDuration(bad), undefined, `"${bad}" should not parse`);
    }
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.equal(parseDuration(bad), undefined, `${bad} should not parse`);
    }
  });
});

describe("Duration schema", () => {
  it("parses into milliseconds", () => {
    assert.equal(Duration.parse("250ms"), 250);
    assert.equal(Duration.parse(2), 2_000);
  });

  it("reports a bad value with the expected forms", () => {
    const result = Duration.safeParse("half a minute");
    assert.equal(result.success, false);
    assert.match(result.error!.issues[0]!.message, /expected a duration such as "500ms", "30s" or "2m"/);
  });

  it("refuses values that are neither text nor number", () => {
    assert.equal(Duration.safeParse(true).success, false);
    assert.equal(Duration.safeParse(["1s"]).success, false);
  });
});

describe("durations in a configuration (backend timeout)", () => {
  const withTimeout = (timeout: unknown) =>
    validateConfig({ backends: { orders: timeout === undefined ? { urls: ["http://127.0.0.1:9000"] } : { urls: ["http://127.0.0.1:9000"], timeout } } });

  for (const [given, ms] of [["500ms", 500], ["30s", 30_000], ["2m", 120_000], [5, 5_000], ["5", 5_000]] as const) {
    it(`reads ${JSON.stringify(given)} as ${ms} ms`, () => {
      const result = withTimeout(given);
      assert.ok(result.ok, JSON.stringify(result));
      assert.equal(result.config.backends.orders!.timeout, ms);
    });
  }

  it("defaults to 30 seconds, not 30 milliseconds", () => {
    const result = withTimeout(undefined);
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.config.backends.orders!.timeout, 30_000);
  });

  it("reports a bad value at its path with the value seen", () => {
    const result = withTimeout("soon");
    assert.equal(result.ok, false);
    const problems = result.ok ? [] : result.problems;
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.path, "backends.orders.timeout");
    assert.match(problems[0]!.message, /expected a duration such as "500ms", "30s" or "2m"/);
    assert.match(problems[0]!.message, /\(got "soon"\)$/);
  });

  it("refuses a zero timeout, which would fail every request", () => {
    const result = withTimeout("0s");
    assert.equal(result.ok, false);
    assert.deepEqual(result.ok ? [] : result.problems.map((p) => p.path), ["backends.orders.timeout"]);
    assert.match(result.ok ? "" : result.problems[0]!.message, /above zero.*\(got "0s"\)/);
  });
});
