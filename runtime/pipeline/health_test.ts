import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type BackendSpec, mustBuild, snapshotFromValue } from "../../config/snapshot/build.ts";
import { BackendHealth, type HealthProbe, MemberHealth } from "./health.ts";

function backends(value: Record<string, unknown>): ReadonlyMap<string, BackendSpec> {
  return mustBuild(snapshotFromValue({ backends: value })).backends;
}

const CHECK = { path: "/h", intervalMs: 1000, timeoutMs: 100, healthyThreshold: 2, unhealthyThreshold: 3, expectedStatus: [[200, 399]] as const };
const PASSIVE = { consecutiveFailures: 3, ejectionMs: 60_000 };

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("MemberHealth", () => {
  it("becomes unhealthy after the unhealthy threshold of failed checks, and healthy again after the healthy threshold", () => {
    const m = new MemberHealth("b", "http://a:1");
    m.checked(false, CHECK, "503");
    m.checked(false, CHECK, "503");
    assert.equal(m.up, true, "two failures are below the threshold of three");
    m.checked(false, CHECK, "unreachable");
    assert.deepEqual([m.up, m.checkedUp, m.lastCheck], [false, false, "unreachable"]);
    m.checked(true, CHECK, "200");
    assert.equal(m.up, false, "one pass is below the healthy threshold of two");
    m.checked(true, CHECK, "200");
    assert.equal(m.up, true);
  });

  it("ejects after consecutive connection failures or 5xx, not after 4xx, and counts the ejection", () => {
    const m = new MemberHealth("b", "http://a:1");
    m.called(undefined, PASSIVE);
    m.called(502, PASSIVE);
    m.called(404, PASSIVE);
    m.called(undefined, PASSIVE);
    m.called(500, PASSIVE);
    assert.equal(m.up, true, "a 404 answer resets the count");
    m.called(503, PASSIVE);
    assert.deepEqual([m.up, m.ejected, m.ejections], [false, true, 1]);
    m.called(503, PASSIVE);
    m.called(503, PASSIVE);
    m.called(503, PASSIVE);
    assert.equal(m.ejections, 1, "failures while ejected do not eject again");
    m.stop();
  });

  it("comes back when its ejection time is up", async () => {
    const m = new MemberHealth("b", "http://a:1");
    for (let i = 0; i < 2; i++) m.called(undefined, { consecutiveFailures: 2, ejectionMs: 50 });
    assert.equal(m.up, false);
    await until(() => m.up, "the ejection to end");
    assert.equal(m.ejected, false);
  });

  it("comes back early when an active check passes (and stays out while checks fail)", () => {
    const m = new MemberHealth("b", "http://a:1");
    for (let i = 0; i < 3; i++) m.called(500, PASSIVE);
    m.checked(false, CHECK, "500");
    assert.equal(m.up, false);
    m.checked(true, CHECK, "200");
    assert.deepEqual([m.up, m.ejected], [true, false]);
    m.stop();
  });
});

describe("BackendHealth", () => {
  it("probes each member's origin + path with GET on a timer once started, and marks a failing one unhealthy", async () => {
    const asked: string[] = [];
    const probe: HealthProbe = (url) => {
      asked.push(url);
      return url.startsWith("http://down:2") ? Promise.reject(new Error("refused")) : Promise.resolve(204);
    };
    const health = new BackendHealth();
    const specs = backends({
      b: { urls: ["http://up:1/base", "http://down:2"], health: { path: "/healthz?full=1", interval: "100ms", timeout: "50ms", "unhealthy-threshold": 2 } },
    });
    health.apply(specs);
    assert.equal(asked.length, 0, "no check before start");
    health.start(probe);
    await until(() => !health.member("b", "http://down:2").up, "the failing member to become unhealthy");
    assert.equal(health.member("b", "http://up:1/base").up, true);
    assert.ok(asked.includes("http://up:1/healthz?full=1"), asked.join(", "));
    health.close();
    const count = asked.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(asked.length, count, "no check after close");
  });

  it("keeps a member's health across a swap that keeps it, and forgets members that leave", async () => {
    let status = 500;
    const health = new BackendHealth();
    health.start(() => Promise.resolve(status));
    const config = { urls: ["http://a:1", "http://b:2"], health: { path: "/h", interval: "100ms", timeout: "50ms", "unhealthy-threshold": 1 } };
    health.apply(backends({ b: config }));
    const a = health.member("b", "http://a:1");
    await until(() => !a.up, "member a to become unhealthy");
    health.apply(backends({ b: { ...config, timeout: "60ms" } }));
    assert.equal(health.member("b", "http://a:1"), a, "the same state after the swap");
    assert.equal(a.up, false, "still unhealthy after the swap");
    status = 200;
    await until(() => a.up, "member a to become healthy again");
    health.apply(backends({ b: { urls: ["http://b:2"] } }));
    assert.deepEqual([...health.all()].map((m) => m.url), ["http://b:2"]);
    assert.equal(health.member("b", "http://b:2").up, true, "without checks a member is healthy");
    health.close();
  });
});
