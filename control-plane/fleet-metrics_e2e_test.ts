/**
 * The fleet view end to end: a real control plane, a real gateway (a child process on the runtime
 * that runs the tests) beating every 200 ms, traffic through it, then `GET /v1/admin/metrics` and
 * the admin page in the Debian `chromium` package (driven headless by playwright-core) show it.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { type ControlPlaneProcess, createToken, eventually, startControlPlane, startFleetGateway } from "../test/control-plane.ts";
import { freePort, type GatewayProcess } from "../test/harness.ts";
import { startUpstream, type Upstream } from "../test/upstream.ts";

/** The browser the page is tested in (override with PORTICO_TEST_CHROMIUM). */
const CHROMIUM = process.env.PORTICO_TEST_CHROMIUM ?? "/usr/bin/chromium";

/** How long the backend takes to answer, so the latency the page shows is known to be at least this. */
const BACKEND_DELAY_MS = 30;

const ECHO_REQUESTS = 24;
const UNROUTED_REQUESTS = 4;
const DOWN_REQUESTS = 3;

interface Figures {
  name: string;
  requests: number;
  requestsPerSecond: number;
  errorRate4xx: number;
  errorRate5xx: number;
  p50Ms: number | null;
  p99Ms: number | null;
  gateways?: number;
}

describe("fleet traffic on the control plane: admin metrics API and web page", { timeout: 120_000 }, () => {
  let upstream: Upstream;
  let plane: ControlPlaneProcess;
  let adminToken: string;
  let edge: GatewayProcess;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const metrics = (authorization?: string) => fetch(`${plane.url}/v1/admin/metrics`, { headers: authorization ? { authorization } : {} });

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `no browser at ${CHROMIUM}: install the Debian package "chromium" (apt-get install chromium; .ci/run does) or set PORTICO_TEST_CHROMIUM`,
    );
    upstream = await startUpstream((req, res) => {
      req.resume();
      setTimeout(() => res.end("echo"), BACKEND_DELAY_MS);
    });
    const nobody = await freePort(); // nothing listens there: the backend of `down` refuses connections
    plane = await startControlPlane({
      files: {
        "apis.yaml": `
apis:
  - { name: echo, path: /echo, backend: echo }
  - { name: down, path: /down, backend: down }
backends:
  echo: { urls: ["${upstream.url}"] }
  down: { urls: ["http://127.0.0.1:${nobody}"] }
`,
      },
    });
    adminToken = readFileSync(join(plane.dataDir, "state", "admin-token"), "utf8").trim();
    edge = await startFleetGateway(plane, await createToken(plane.dataDir, "edge-1"));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    page = await browser.newPage();
    page.on("pageerror", (error) => pageErrors.push(String(error)));
  });

  after(async () => {
    await browser?.close();
    await edge?.stop();
    await plane?.stop();
    await upstream?.close();
  });

  it("refuses /v1/admin/metrics without the admin token", async () => {
    const res = await metrics();
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    assert.equal((await res.json()).reason, "missing");
    const wrong = await metrics("Bearer not-the-token");
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
  });

  it("counts the traffic through a gateway per API, with error shares and latency, from its heartbeats", async () => {
    for (let i = 0; i < ECHO_REQUESTS; i++) {
      const res = await fetch(`${edge.url}/echo/${i}`);
      assert.equal(await res.text(), "echo");
    }
    for (let i = 0; i < UNROUTED_REQUESTS; i++) assert.equal((await fetch(`${edge.url}/nowhere`).then(async (r) => (await r.body?.cancel(), r))).status, 404);
    for (let i = 0; i < DOWN_REQUESTS; i++) assert.equal((await fetch(`${edge.url}/down`).then(async (r) => (await r.body?.cancel(), r))).status, 502);

    let body: { fleet: Figures & { gateways: number }; gateways: (Figures & { apis: Figures[] })[]; apis: Figures[]; windowSeconds: number } | undefined;
    await eventually("the control plane has every request from the heartbeats", async () => {
      const res = await metrics(`Bearer ${adminToken}`);
      assert.equal(res.status, 200);
      body = await res.json();
      return body!.fleet.requests === ECHO_REQUESTS + UNROUTED_REQUESTS + DOWN_REQUESTS;
    }, 10_000);
    assert.equal(body!.windowSeconds, 300);
    assert.equal(body!.fleet.gateways, 1);
    const byName = (list: Figures[], name: string) => list.find((a) => a.name === name)!;
    const echo = byName(body!.apis, "echo");
    assert.equal(echo.requests, ECHO_REQUESTS);
    assert.equal(echo.gateways, 1);
    assert.equal(echo.errorRate4xx, 0);
    assert.equal(echo.errorRate5xx, 0);
    assert.ok(echo.p50Ms! >= BACKEND_DELAY_MS && echo.p99Ms! >= echo.p50Ms!, JSON.stringify(echo));
    assert.ok(echo.requestsPerSecond > 0);
    assert.deepEqual([byName(body!.apis, "(none)").requests, byName(body!.apis, "(none)").errorRate4xx], [UNROUTED_REQUESTS, 1]);
    assert.deepEqual([byName(body!.apis, "down").requests, byName(body!.apis, "down").errorRate5xx], [DOWN_REQUESTS, 1]);
    const gateway = body!.gateways.find((g) => g.name === "edge-1")!;
    assert.equal(gateway.requests, ECHO_REQUESTS + UNROUTED_REQUESTS + DOWN_REQUESTS);
    assert.equal(byName(gateway.apis, "echo").requests, ECHO_REQUESTS);
  });

  it("shows the fleet's traffic per gateway and per API on the admin page", async () => {
    await page.goto(`${plane.url}/`);
    await page.fill("#token", adminToken);
    await page.click("button[type=submit]");
    const echo = page.locator('#traffic-apis tr[data-api="echo"]');
    await eventually(
      "the page shows the echo API's row",
      async () => (await echo.count()) === 1 && (await echo.locator("td.requests").textContent()) === String(ECHO_REQUESTS),
      12_000,
    );
    assert.equal(await echo.locator("td.name").textContent(), "echo");
    const p50 = (await echo.locator("td.p50").textContent()) ?? "";
    const p99 = (await echo.locator("td.p99").textContent()) ?? "";
    assert.match(p50, /^\d+(\.\d+)? ms$/);
    assert.ok(Number.parseFloat(p50) >= BACKEND_DELAY_MS, `p50 ${p50}`);
    assert.ok(Number.parseFloat(p99) >= Number.parseFloat(p50), `p99 ${p99}, p50 ${p50}`);
    assert.match((await echo.locator("td.rate").textContent()) ?? "", /^\d+\.\d\d\/s$/);
    assert.equal(await echo.locator("td.errors5xx").textContent(), "0.0 %");
    assert.equal(await echo.locator("td.gateways").textContent(), "1");
    const down = page.locator('#traffic-apis tr[data-api="down"]');
    assert.equal(await down.locator("td.requests").textContent(), String(DOWN_REQUESTS));
    assert.equal(await down.locator("td.errors5xx").textContent(), "100.0 %");
    assert.equal(await page.locator('#traffic-apis tr[data-api="(none)"] td.errors4xx').textContent(), "100.0 %");

    const gateway = page.locator('#traffic-gateways tr[data-gateway="edge-1"]');
    assert.equal(await gateway.locator("td.requests").textContent(), String(ECHO_REQUESTS + UNROUTED_REQUESTS + DOWN_REQUESTS));
    assert.match(
      await page.locator("#traffic-fleet").textContent() ?? "",
      /^Fleet: 1 gateway\(s\) reporting · \d+\.\d\d\/s · 31 requests · 4xx 12\.9 % · 5xx 9\.7 % · p50 /,
    );
    assert.match(await page.locator("#traffic-window").textContent() ?? "", /^last 5 min/);
    assert.equal(await page.locator("#traffic-empty").isVisible(), false);
    assert.deepEqual(pageErrors, []);
  });
});
