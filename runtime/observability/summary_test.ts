import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkTraffic, MAX_HEARTBEAT_APIS, MAX_HEARTBEAT_BYTES, MAX_TRAFFIC_API_NAME, MAX_TRAFFIC_BYTES } from "../../control-plane/heartbeat.ts";
import { MAX_TRACKED_APIS, NO_API, OTHER_APIS, TrafficSummary } from "./summary.ts";

/** The exact quantile of sorted data by nearest rank (the ⌈q·n⌉-th value). */
function exact(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

/** A summary on a clock the test moves. */
function summary() {
  const clock = { now: 0 };
  return { clock, traffic: new TrafficSummary(() => clock.now) };
}

/** The neighbouring histogram bounds around a latency: the histogram's ratio is (60000 / 0.1)^(1/39), about 1.406. */
const RATIO = (60_000 / 0.1) ** (1 / 39);

describe("TrafficSummary", () => {
  it("gives the exact value for data of one value, and the largest seen beyond the 60 s overflow bound", () => {
    const { traffic } = summary();
    for (let i = 0; i < 1000; i++) traffic.record("steady", 200, 5);
    for (let i = 0; i < 10; i++) traffic.record("slow", 200, 120_000);
    const apis = traffic.take().apis;
    assert.deepEqual(apis.find((a) => a.name === "steady"), { name: "steady", requests: 1000, errors4xx: 0, errors5xx: 0, p50Ms: 5, p99Ms: 5 });
    assert.deepEqual(apis.find((a) => a.name === "slow"), { name: "slow", requests: 10, errors4xx: 0, errors5xx: 0, p50Ms: 120_000, p99Ms: 120_000 });
  });

  it("reads p50 and p99 of uniform data within 2 % of the exact quantiles, and always within the true value's bucket", () => {
    const data = Array.from({ length: 10_000 }, (_, i) => (i + 1) / 10); // 0.1 .. 1000 ms
    const { traffic } = summary();
    for (const ms of [...data].reverse()) traffic.record("uniform", 200, ms);
    const [api] = traffic.take().apis;
    for (const [q, got] of [[0.5, api!.p50Ms], [0.99, api!.p99Ms]] as const) {
      const want = exact(data, q);
      assert.ok(Math.abs(got - want) / want <= 0.02, `q${q}: got ${got}, exact ${want}`);
      assert.ok(got >= want / RATIO && got <= want * RATIO, `q${q}: got ${got} outside the bucket of ${want}`);
    }
  });

  it("reads the tail of skewed data: 98 % fast and 2 % slow requests", () => {
    // Log-normal-like data from a fixed generator, so the test is the same every run.
    const data: number[] = [];
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 9_800; i++) data.push(2 + random() * 3); // 2..5 ms
    for (let i = 0; i < 200; i++) data.push(800 + random() * 400); // 800..1200 ms
    const { traffic } = summary();
    for (const ms of data) traffic.record("skewed", 200, ms);
    data.sort((a, b) => a - b);
    const [api] = traffic.take().apis;
    for (const [q, got] of [[0.5, api!.p50Ms], [0.99, api!.p99Ms]] as const) {
      const want = exact(data, q);
      assert.ok(got >= want / RATIO && got <= want * RATIO, `q${q}: got ${got}, exact ${want}`);
    }
    assert.ok(api!.p50Ms < 5 && api!.p99Ms > 700, JSON.stringify(api));
  });

  it("counts errors by class, requests without an API under (none), and totals", () => {
    const { traffic } = summary();
    for (const status of [200, 204, 301, 404, 429, 500, 502, 503]) traffic.record("a", status, 1);
    traffic.record(undefined, 404, 0.05);
    traffic.record(undefined, 503, 2);
    const taken = traffic.take();
    assert.equal(taken.requests, 10);
    assert.equal(taken.errors4xx, 3);
    assert.equal(taken.errors5xx, 4);
    assert.deepEqual(taken.apis.map((a) => [a.name, a.requests, a.errors4xx, a.errors5xx]), [["a", 8, 2, 3], [NO_API, 2, 1, 1]]);
    const none = taken.apis[1]!;
    assert.ok(none.p50Ms >= 0.05 && none.p50Ms <= 0.1, `p50 ${none.p50Ms}: in the first bucket (up to 0.1 ms), not below the smallest latency seen`);
  });

  it("resets at each take, and reports the interval since the previous take", () => {
    const { clock, traffic } = summary();
    clock.now = 1_500;
    traffic.record("a", 200, 3);
    const first = traffic.take();
    assert.equal(first.intervalSeconds, 1.5);
    assert.equal(first.requests, 1);
    clock.now = 61_500;
    const second = traffic.take();
    assert.deepEqual(second, { intervalSeconds: 60, requests: 0, errors4xx: 0, errors5xx: 0, apis: [] });
    traffic.record("a", 500, 7);
    clock.now = 62_000;
    assert.deepEqual(traffic.take().apis, [{ name: "a", requests: 1, errors4xx: 0, errors5xx: 1, p50Ms: 7, p99Ms: 7 }]);
  });

  it(`counts at most ${MAX_TRACKED_APIS} APIs apart; the requests of further ones go to (other), nothing is lost`, () => {
    const { traffic } = summary();
    for (let i = 0; i < MAX_TRACKED_APIS + 50; i++) traffic.record(`api-${i}`, 200, 1 + (i % 10));
    traffic.record("x".repeat(MAX_TRAFFIC_API_NAME + 1), 200, 1);
    const taken = traffic.take(1000);
    assert.equal(taken.requests, MAX_TRACKED_APIS + 51);
    assert.equal(taken.apis.length, MAX_TRACKED_APIS + 1);
    assert.deepEqual(taken.apis.find((a) => a.name === OTHER_APIS)?.requests, 51);
    assert.equal(taken.apis.reduce((sum, a) => sum + a.requests, 0), taken.requests);
  });

  it("lists the busiest APIs first and folds the rest, histograms and all, into (other)", () => {
    const { traffic } = summary();
    for (let i = 0; i < 60; i++) {
      for (let n = 0; n <= i; n++) traffic.record(`api-${String(i).padStart(2, "0")}`, 200, i < 3 ? 1000 : 1);
    }
    const taken = traffic.take();
    assert.equal(taken.apis.length, MAX_HEARTBEAT_APIS);
    assert.deepEqual(taken.apis.slice(0, 3).map((a) => a.name), ["api-59", "api-58", "api-57"]);
    const other = taken.apis.at(-1)!;
    assert.equal(other.name, OTHER_APIS);
    // api-00 .. api-10 folded: 1 + 2 + … + 11 = 66 requests, of which api-00..02 (6) took 1000 ms.
    assert.equal(other.requests, 66);
    assert.ok(other.p50Ms >= 1 && other.p50Ms <= RATIO, `p50 ${other.p50Ms} is in the bucket of 1 ms`);
    assert.ok(other.p99Ms > 1000 / RATIO && other.p99Ms <= 1000, `the folded histograms keep the slow requests' tail: p99 ${other.p99Ms}`);
    assert.equal(taken.apis.reduce((sum, a) => sum + a.requests, 0), taken.requests);
  });

  it(`keeps the summary within ${MAX_TRAFFIC_BYTES} bytes of JSON and valid for the control plane, with the longest names`, () => {
    const { traffic } = summary();
    for (let i = 0; i < MAX_TRACKED_APIS; i++) traffic.record(`${String(i).padStart(3, "0")}${"n".repeat(MAX_TRAFFIC_API_NAME - 3)}`, 503, 123_456.789);
    const taken = traffic.take();
    const bytes = Buffer.byteLength(JSON.stringify(taken));
    assert.ok(bytes <= MAX_TRAFFIC_BYTES, `${bytes} bytes`);
    assert.ok(taken.apis.length < MAX_HEARTBEAT_APIS, `${taken.apis.length} listed`);
    assert.equal(taken.apis.at(-1)!.name, OTHER_APIS);
    assert.equal(taken.apis.reduce((sum, a) => sum + a.requests, 0), MAX_TRACKED_APIS);
    assert.ok(checkTraffic(JSON.parse(JSON.stringify(taken))).ok);
    assert.ok(bytes + 32 * 1024 + 6 * 1000 + 1024 < MAX_HEARTBEAT_BYTES, "with the longest problems and message, a heartbeat still fits");
  });

  it("drops the counters of an API idle for 10 takes, and counts it again when it comes back", () => {
    const { traffic } = summary();
    traffic.record("gone", 200, 1);
    traffic.take();
    for (let i = 0; i < 10; i++) traffic.take();
    for (let i = 0; i < MAX_TRACKED_APIS; i++) traffic.record(`new-${i}`, 200, 1);
    traffic.record("gone", 200, 1);
    const taken = traffic.take(1000);
    assert.equal(taken.apis.find((a) => a.name === OTHER_APIS)?.requests, 1, "the place of the idle API went to a new one");
    assert.equal(taken.apis.length, MAX_TRACKED_APIS + 1);
  });
});
