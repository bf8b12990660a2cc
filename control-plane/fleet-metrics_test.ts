import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../test/harness.ts";
import { controlPlaneApp } from "./api.ts";
import { FleetTraffic, MAX_SUMMARIES_PER_GATEWAY, METRICS_WINDOW_MS, SUMMARY_SLOT_MS } from "./fleet-metrics.ts";
import { checkTraffic, type HeartbeatTraffic, MAX_HEARTBEAT_APIS } from "./heartbeat.ts";
import { ControlPlane } from "./service.ts";
import { createToken } from "./tokens.ts";

/** A summary of one interval with the given APIs as [name, requests, 4xx, 5xx, p50, p99]. */
function traffic(intervalSeconds: number, apis: [string, number, number, number, number, number][]): HeartbeatTraffic {
  const sum = (i: 1 | 2 | 3) => apis.reduce((s, a) => s + a[i], 0);
  return {
    intervalSeconds,
    requests: sum(1),
    errors4xx: sum(2),
    errors5xx: sum(3),
    apis: apis.map(([name, requests, errors4xx, errors5xx, p50Ms, p99Ms]) => ({ name, requests, errors4xx, errors5xx, p50Ms, p99Ms })),
  };
}

describe("checkTraffic", () => {
  const good = traffic(10, [["a", 10, 1, 2, 3, 9]]);

  it("takes a well-formed summary, keeping only the known fields", () => {
    const checked = checkTraffic({ ...good, extra: "x".repeat(1000), apis: [{ ...good.apis[0], more: [1, 2, 3] }] });
    assert.deepEqual(checked, { ok: true, traffic: good });
  });

  it("refuses what is malformed, with the reason", () => {
    const cases: [unknown, RegExp][] = [
      [null, /not an object/],
      [[], /not an object/],
      [{ ...good, intervalSeconds: 0 }, /intervalSeconds/],
      [{ ...good, intervalSeconds: "10" }, /intervalSeconds/],
      [{ ...good, intervalSeconds: 1e9 }, /intervalSeconds/],
      [{ ...good, requests: -1 }, /counts/],
      [{ ...good, requests: 1.5 }, /counts/],
      [{ ...good, errors5xx: 1e300 }, /counts/],
      [{ ...good, errors4xx: 9, errors5xx: 9 }, /more errors than requests/],
      [{ ...good, apis: {} }, /not an array/],
      [{ ...good, apis: Array.from({ length: MAX_HEARTBEAT_APIS + 1 }, (_, i) => ({ ...good.apis[0], name: `a${i}`, requests: 0 })) }, /more than 50 APIs/],
      [{ ...good, apis: [good.apis[0], good.apis[0]] }, /listed twice/],
      [{ ...good, apis: [{ ...good.apis[0], name: "" }] }, /API name/],
      [{ ...good, apis: [{ ...good.apis[0], name: "x".repeat(257) }] }, /API name/],
      [{ ...good, apis: [{ ...good.apis[0], name: 7 }] }, /API name/],
      [{ ...good, apis: [{ ...good.apis[0], requests: 0 }] }, /above 0/],
      [{ ...good, apis: [{ ...good.apis[0], p99Ms: Number.NaN }] }, /milliseconds/],
      [{ ...good, apis: [{ ...good.apis[0], p50Ms: -1 }] }, /milliseconds/],
      [{ ...good, apis: [{ ...good.apis[0], p50Ms: null }] }, /milliseconds/],
      [{ ...good, requests: 5, errors4xx: 0, errors5xx: 0 }, /more requests than the total/],
      [{ ...good, apis: ["a"] }, /not an object/],
    ];
    for (const [value, reason] of cases) {
      const checked = checkTraffic(value);
      assert.equal(checked.ok, false, JSON.stringify(value).slice(0, 200));
      assert.match((checked as { reason: string }).reason, reason);
    }
  });
});

describe("FleetTraffic", () => {
  it("gives rates over the covered seconds, error shares, and request-weighted quantiles per gateway, per API and for the fleet", () => {
    const fleet = new FleetTraffic();
    const t0 = 1_000_000;
    // edge-1: two summaries of 10 s; edge-2: one of 20 s.
    assert.equal(fleet.add("edge-1", traffic(10, [["a", 100, 10, 0, 2, 10], ["b", 50, 0, 5, 4, 40]]), t0), undefined);
    assert.equal(fleet.add("edge-1", traffic(10, [["a", 300, 0, 30, 6, 20]]), t0 + 10_000), undefined);
    assert.equal(fleet.add("edge-2", traffic(20, [["a", 200, 20, 0, 1, 5]]), t0 + 10_000), undefined);
    const figures = fleet.figures(t0 + 11_000);
    assert.equal(figures.windowSeconds, METRICS_WINDOW_MS / 1000);

    const [edge1, edge2] = figures.gateways;
    assert.equal(edge1!.name, "edge-1");
    assert.equal(edge1!.summaries, 2);
    assert.equal(edge1!.coveredSeconds, 20);
    assert.equal(edge1!.requests, 450);
    assert.equal(edge1!.requestsPerSecond, 22.5);
    assert.equal(edge1!.errorRate4xx, round4(10 / 450));
    assert.equal(edge1!.errorRate5xx, round4(35 / 450));
    assert.equal(edge1!.p50Ms, round3((100 * 2 + 50 * 4 + 300 * 6) / 450));
    assert.equal(edge1!.p99MaxMs, 40);
    const a1 = edge1!.apis.find((a) => a.name === "a")!;
    assert.deepEqual(a1, {
      name: "a",
      requests: 400,
      requestsPerSecond: 20,
      errors4xx: 10,
      errors5xx: 30,
      errorRate4xx: 0.025,
      errorRate5xx: 0.075,
      p50Ms: (100 * 2 + 300 * 6) / 400,
      p99Ms: (100 * 10 + 300 * 20) / 400,
      p99MaxMs: 20,
    });
    assert.equal(edge2!.requestsPerSecond, 10);

    assert.equal(figures.fleet.requests, 650);
    assert.equal(figures.fleet.requestsPerSecond, 32.5, "gateways serve side by side: their rates add up");
    assert.equal(figures.fleet.gateways, 2);
    assert.equal(figures.fleet.errors4xx, 30);
    assert.equal(figures.fleet.errors5xx, 35);
    const a = figures.apis.find((x) => x.name === "a")!;
    assert.equal(a.gateways, 2);
    assert.equal(a.requests, 600);
    assert.equal(a.requestsPerSecond, 30);
    assert.equal(a.p50Ms, round3((100 * 2 + 300 * 6 + 200 * 1) / 600));
    assert.equal(a.p99MaxMs, 20);
    assert.deepEqual(figures.apis.map((x) => x.name), ["a", "b"]);
  });

  it("forgets summaries older than the window, and gateways with nothing left", () => {
    const fleet = new FleetTraffic();
    fleet.add("edge-1", traffic(60, [["a", 60, 0, 0, 1, 2]]), 0);
    fleet.add("edge-1", traffic(60, [["a", 120, 0, 0, 1, 2]]), 60_000);
    assert.equal(fleet.figures(60_000 + METRICS_WINDOW_MS - 1).gateways[0]!.requests, 120);
    assert.deepEqual(fleet.figures(60_000 + METRICS_WINDOW_MS + 1).gateways, []);
    assert.equal(fleet.figures(60_000 + METRICS_WINDOW_MS + 1).fleet.p50Ms, null);
  });

  it(`keeps at most ${MAX_SUMMARIES_PER_GATEWAY} summaries per gateway and ${MAX_HEARTBEAT_APIS} APIs in each, merging without losing a request`, () => {
    const fleet = new FleetTraffic();
    const beats = 4000; // every 100 ms for 400 s
    const perBeat = (MAX_HEARTBEAT_APIS * (MAX_HEARTBEAT_APIS + 1)) / 2;
    for (let i = 0; i < beats; i++) {
      // Every heartbeat names 50 APIs, different ones each time.
      const apis = Array.from(
        { length: MAX_HEARTBEAT_APIS },
        (_, j) => [`api-${i}-${j}`, j + 1, 0, 0, 1, 2] as [string, number, number, number, number, number],
      );
      assert.equal(fleet.add("edge-1", traffic(0.1, apis), (i + 1) * 100), undefined);
    }
    const now = beats * 100;
    const [edge] = fleet.figures(now).gateways;
    assert.equal(edge!.summaries, MAX_SUMMARIES_PER_GATEWAY);
    // The window holds whole 10 s slots: those from the slot the window starts in (here it starts on
    // a slot's first millisecond), so the beats received from 100 s to 400 s.
    const first = Math.floor((now - METRICS_WINDOW_MS) / SUMMARY_SLOT_MS) * SUMMARY_SLOT_MS;
    const kept = Array.from({ length: beats }, (_, i) => (i + 1) * 100).filter((at) => at >= first).length;
    assert.equal(kept, 3001);
    assert.equal(edge!.coveredSeconds, round3(kept * 0.1));
    assert.equal(edge!.requests, kept * perBeat);
    assert.equal(edge!.apis.reduce((s, a) => s + a.requests, 0), edge!.requests, "every request is in one API entry");
    assert.ok(edge!.apis.length <= MAX_SUMMARIES_PER_GATEWAY * MAX_HEARTBEAT_APIS, `${edge!.apis.length} APIs`);
    assert.ok(edge!.apis.some((a) => a.name === "(other)"));
    assert.equal(edge!.requestsPerSecond, 10 * perBeat);
  });

  it("refuses a malformed summary, counts it, and keeps what it had", () => {
    const fleet = new FleetTraffic();
    fleet.add("edge-1", traffic(10, [["a", 10, 0, 0, 1, 2]]), 0);
    assert.match(fleet.add("edge-1", { intervalSeconds: 10, requests: "many" }, 1)!, /counts/);
    const [edge] = fleet.figures(2).gateways;
    assert.equal(edge!.requests, 10);
    assert.equal(edge!.trafficRefused, 1);
    assert.match(edge!.lastTrafficRefusal!, /counts/);
  });
});

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
function round4(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

describe("GET /v1/admin/metrics and heartbeats with traffic", () => {
  const warnings: { message: string; fields?: Record<string, unknown> }[] = [];
  let plane: ControlPlane;
  let app: ReturnType<typeof controlPlaneApp>;
  let token: string;

  before(() => {
    plane = new ControlPlane(tempDir(), { info() {}, warn: (message, fields) => void warnings.push({ message, fields }), error() {} });
    plane.reload();
    app = controlPlaneApp(plane);
    token = createToken({ gateway: "edge-1", key: "primary", generation: 1, expires: Date.now() + 3_600_000 }, plane.keys.ensure("edge-1", "primary"));
  });
  after(() => plane?.close());

  const beat = (report: unknown) =>
    app.request("/v1/gateways/edge-1/heartbeat", {
      method: "POST",
      headers: { authorization: `GatewayKey ${token}`, "content-type": "application/json" },
      body: JSON.stringify(report),
    });
  const metrics = (authorization?: string) => app.request("/v1/admin/metrics", { headers: authorization ? { authorization } : {} });

  it("refuses the admin metrics without the admin token (401 problem+json), or with a wrong one", async () => {
    for (const authorization of [undefined, "Bearer wrong", `GatewayKey ${token}`]) {
      const res = await metrics(authorization);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="portico"');
      assert.equal((await res.json()).type, "urn:portico:problem:control-plane:unauthorized");
    }
  });

  it("serves a heartbeat's traffic per gateway and per API", async () => {
    assert.equal((await beat({ version: "1", traffic: traffic(2, [["echo", 10, 1, 1, 3.5, 12.25]]) })).status, 204);
    const res = await metrics(`Bearer ${plane.adminToken}`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.gateways[0].name, "edge-1");
    assert.equal(body.gateways[0].requestsPerSecond, 5);
    assert.deepEqual(body.apis, [{
      name: "echo",
      requests: 10,
      requestsPerSecond: 5,
      errors4xx: 1,
      errors5xx: 1,
      errorRate4xx: 0.1,
      errorRate5xx: 0.1,
      p50Ms: 3.5,
      p99Ms: 12.25,
      p99MaxMs: 12.25,
      gateways: 1,
    }]);
    assert.equal(body.fleet.requests, 10);
  });

  it("takes the rest of a heartbeat whose traffic is malformed, and logs the refusal once", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await beat({ version: `bad-${i}`, traffic: { apis: "lots" } })).status, 204);
    assert.equal(plane.status().gateways.find((g) => g.name === "edge-1")?.version, "bad-2");
    const body = await (await metrics(`Bearer ${plane.adminToken}`)).json();
    assert.equal(body.gateways[0].trafficRefused, 3);
    assert.match(body.gateways[0].lastTrafficRefusal, /intervalSeconds/);
    assert.equal(body.fleet.requests, 10, "what was taken before stays");
    assert.deepEqual(warnings.filter((w) => /traffic summary refused/.test(w.message)).map((w) => w.fields), [{
      gateway: "edge-1",
      reason: "intervalSeconds must be a number of seconds above 0 and at most 86400",
    }]);
  });
});
