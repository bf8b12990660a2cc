import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mustBuild, snapshotFromValue } from "../snapshot/build.ts";
import { validateConfig } from "./validate.ts";

function problems(backend: Record<string, unknown>): string[] {
  const result = validateConfig({ apis: [{ name: "a", path: "/a", backend: "b" }], backends: { b: backend } });
  return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
}

describe("backend pools, health checks and passive ejection in the configuration", () => {
  it("accepts plain URLs and { url, weight, priority } together, with weight 1 and priority 0 by default", () => {
    const spec = mustBuild(
      snapshotFromValue({ backends: { b: { urls: ["http://a:1", { url: "http://b:2", weight: 3 }, { url: "http://c:3", priority: 1 }] } } }),
    )
      .backends.get("b")!;
    assert.deepEqual(spec.members, [
      { url: "http://a:1", weight: 1, priority: 0 },
      { url: "http://b:2", weight: 3, priority: 0 },
      { url: "http://c:3", weight: 1, priority: 1 },
    ]);
    assert.deepEqual(spec.urls, ["http://a:1", "http://b:2", "http://c:3"]);
  });

  it("reports a bad weight, a bad priority, a bad member URL and an unknown member key, each with its path", () => {
    assert.deepEqual(
      problems({
        urls: [{ url: "http://a:1", weight: 0 }, { url: "http://b:2", weight: 1.5 }, { url: "http://c:3", priority: -1 }, { url: "ftp://d" }, {
          url: "http://e:5",
          wieght: 2,
        }],
      }),
      [
        "backends.b.urls[0].weight: Too small: expected number to be >=1 (got 0)",
        "backends.b.urls[1].weight: expected int, received number (got 1.5)",
        "backends.b.urls[2].priority: Too small: expected number to be >=0 (got -1)",
        'backends.b.urls[3].url: expected an http:// or https:// URL without query, fragment or credentials (got "ftp://d")',
        'backends.b.urls[4].wieght: unknown key (did you mean "weight"?)',
      ],
    );
  });

  it("resolves health checks with their defaults: every 10s, 2s timeout, 2 to become healthy, 3 to become unhealthy, 200-399", () => {
    const spec = mustBuild(snapshotFromValue({ backends: { b: { urls: ["http://a:1"], health: { path: "/healthz" } } } })).backends.get("b")!;
    assert.deepEqual(spec.health, {
      path: "/healthz",
      intervalMs: 10_000,
      timeoutMs: 2_000,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      expectedStatus: [[200, 399]],
    });
    const custom = mustBuild(snapshotFromValue({ backends: { b: { urls: ["http://a:1"], health: { path: "/h", "expected-status": [204, "200-299"] } } } }));
    assert.deepEqual(custom.backends.get("b")!.health!.expectedStatus, [[204, 204], [200, 299]]);
    const single = mustBuild(snapshotFromValue({ backends: { b: { urls: ["http://a:1"], health: { path: "/h", "expected-status": 200 } } } }));
    assert.deepEqual(single.backends.get("b")!.health!.expectedStatus, [[200, 200]]);
  });

  it("reports bad health keys, each with its path", () => {
    assert.deepEqual(
      problems({
        urls: ["http://a:1"],
        health: {
          path: "healthz",
          interval: "soon",
          timeout: 0,
          "healthy-threshold": 0,
          "unhealthy-threshold": 1.5,
          "expected-status": ["200-99", 700],
          every: "5s",
        },
      }),
      [
        'backends.b.health.path: expected a path starting with "/", such as "/healthz" (got "healthz")',
        'backends.b.health.interval: expected a duration such as "500ms", "30s" or "2m" (got "soon")',
        'backends.b.health.timeout: expected a duration above zero, such as "2s" (got 0)',
        "backends.b.health.healthy-threshold: Too small: expected number to be >=1 (got 0)",
        "backends.b.health.unhealthy-threshold: expected int, received number (got 1.5)",
        'backends.b.health.expected-status[0]: expected a status from 100 to 599 or a range such as "200-399" (got "200-99")',
        'backends.b.health.expected-status[1]: expected a status from 100 to 599 or a range such as "200-399" (got 700)',
        "backends.b.health.every: unknown key",
      ],
    );
    assert.deepEqual(problems({ urls: ["http://a:1"], health: { path: "/h", interval: "1s", timeout: "2s" } }), [
      'backends.b.health.timeout: the timeout must not be longer than the interval (got "2s")',
    ]);
    assert.deepEqual(problems({ urls: ["http://a:1"], health: { interval: "5s" } }), ["backends.b.health.path: required (expected string)"]);
  });

  it("turns passive ejection on for pools (5 failures, 30s) and off for one URL, unless the configuration says otherwise", () => {
    const built = mustBuild(snapshotFromValue({
      backends: {
        pool: { urls: ["http://a:1", "http://b:2"] },
        off: { urls: ["http://a:1", "http://b:2"], passive: false },
        one: { urls: ["http://a:1"] },
        asked: { urls: ["http://a:1"], passive: { "consecutive-failures": 2, ejection: "10s" } },
      },
    }));
    assert.deepEqual(built.backends.get("pool")!.passive, { consecutiveFailures: 5, ejectionMs: 30_000 });
    assert.equal(built.backends.get("off")!.passive, undefined);
    assert.equal(built.backends.get("one")!.passive, undefined);
    assert.deepEqual(built.backends.get("asked")!.passive, { consecutiveFailures: 2, ejectionMs: 10_000 });
  });

  it("reports bad passive keys, each with its path", () => {
    assert.deepEqual(problems({ urls: ["http://a:1"], passive: { "consecutive-failures": 0, ejection: "never", after: 1 } }), [
      "backends.b.passive.consecutive-failures: Too small: expected number to be >=1 (got 0)",
      'backends.b.passive.ejection: expected a duration such as "500ms", "30s" or "2m" (got "never")',
      "backends.b.passive.after: unknown key",
    ]);
    assert.deepEqual(problems({ urls: ["http://a:1"], passive: true }), [
      "backends.b.passive: expected false or { consecutive-failures, ejection } (got true)",
    ]);
  });

  it("still needs https:// members, objects included, for tls options", () => {
    assert.deepEqual(problems({ urls: ["https://a:1", { url: "http://b:2" }], tls: { verify: false } }), [
      "backends.b.tls: tls options need https:// URLs (got a map)",
    ]);
  });
});
