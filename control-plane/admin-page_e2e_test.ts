/**
 * The control plane's web page in a real browser: the Debian `chromium` package, driven headless by
 * playwright-core, against a real control plane and real gateways (child processes on the runtime
 * that runs the tests).
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { type ControlPlaneProcess, createToken, eventually, startControlPlane, startFleetGateway } from "../test/control-plane.ts";
import { type GatewayProcess, ROOT } from "../test/harness.ts";
import { startUpstream, type Upstream } from "../test/upstream.ts";

/** The browser the page is tested in (override with PORTICO_TEST_CHROMIUM). */
const CHROMIUM = process.env.PORTICO_TEST_CHROMIUM ?? "/usr/bin/chromium";

describe("control plane web page in a real browser", { timeout: 120_000 }, () => {
  let upstream: Upstream;
  let plane: ControlPlaneProcess;
  let adminToken: string;
  let edge1: GatewayProcess;
  let edge2: GatewayProcess;
  let browser: Browser;
  let page: Page;
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  const statusRequests: { url: string; authorization: string | undefined; cookie: string | undefined }[] = [];

  const config = (extra = "") => `
apis:
  - { name: echo, path: /echo, backend: echo }
${extra}
backends:
  echo: { urls: ["${upstream.url}"] }
`;

  /** The text of the first element matching `selector`, once it is visible and matches `pattern` (the page refreshes every 3 s). */
  const textOf = async (selector: string, pattern: RegExp, timeoutMs = 12_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const locator = page.locator(selector).first();
      const text = (await locator.count()) > 0 && (await locator.isVisible()) ? ((await locator.textContent()) ?? "") : "";
      if (pattern.test(text)) return text;
      if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${selector} to show ${pattern}; it shows ${JSON.stringify(text)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `no browser at ${CHROMIUM}: install the Debian package "chromium" (apt-get install chromium; .ci/run does) or set PORTICO_TEST_CHROMIUM`,
    );
    upstream = await startUpstream((req, res) => {
      req.resume();
      res.end("echo");
    });
    plane = await startControlPlane({ files: { "apis.yaml": config() } });
    adminToken = readFileSync(join(plane.dataDir, "state", "admin-token"), "utf8").trim();
    // edge-1's token expires in 3 days (inside the 7-day warning), edge-2's in 30 (outside it).
    edge1 = await startFleetGateway(plane, await createToken(plane.dataDir, "edge-1", ["--expires", "3d"]));
    edge2 = await startFleetGateway(plane, await createToken(plane.dataDir, "edge-2"));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    page = await browser.newPage();
    page.on("console", (message) => {
      if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
    });
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    page.on("request", (request) => {
      if (request.url().includes("/v1/admin/")) {
        const headers = request.headers();
        statusRequests.push({ url: request.url(), authorization: headers.authorization, cookie: headers.cookie });
      }
    });
  });

  after(async () => {
    await browser?.close();
    await Promise.all([edge1?.stop(), edge2?.stop()]);
    await plane?.stop();
    await upstream?.close();
  });

  it("serves one self-contained page at / and /admin with a strict CSP and security headers", async () => {
    for (const path of ["/", "/admin"]) {
      const res = await fetch(plane.url + path);
      const html = await res.text();
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
      const csp = res.headers.get("content-security-policy") ?? "";
      assert.match(csp, /(^|; )default-src 'none'(;|$)/);
      assert.match(csp, /(^|; )connect-src 'self'(;|$)/);
      assert.match(csp, /(^|; )script-src 'sha256-[A-Za-z0-9+/]+=*'(;|$)/, "the inline script is allowed by its hash only");
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.equal(res.headers.get("referrer-policy"), "no-referrer");
      assert.equal(res.headers.get("x-frame-options"), "DENY");
      assert.equal(res.headers.get("cache-control"), "no-store");
      // Works offline: nothing is loaded from anywhere else, and no data is in the page itself.
      assert.doesNotMatch(html, /\b(src|href)\s*=/i);
      assert.doesNotMatch(html, /https?:\/\//);
      assert.ok(!html.includes(adminToken) && !html.includes("edge-1"), "the page holds no data");
    }
  });

  it("shows the refusal of a wrong token, then every gateway with the right one", async () => {
    const res = await page.goto(`${plane.url}/`);
    assert.equal(res?.status(), 200);
    assert.equal(await page.locator("#status").isVisible(), false, "nothing is shown before a token is given");

    await page.fill("#token", "not-the-admin-token");
    await page.click("button[type=submit]");
    const refused = await textOf("#message", /refused/);
    assert.match(refused, /^Admin token refused \(bad admin token\): admin token required/);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused token is not kept");
    assert.equal(await page.locator("#status").isVisible(), false);

    await page.fill("#token", adminToken);
    await page.click("button[type=submit]");
    const status = await plane.status();
    const revision = status.desired!.revision;
    await textOf("#desired .desired-revision", new RegExp(`^r${revision}$`));
    assert.equal(await page.locator("#desired .desired-hash").textContent(), status.desired!.hash);
    assert.equal(await page.locator("#rejected").isVisible(), false);

    const row = (name: string) => `#gateways tr[data-gateway="${name}"]`;
    await textOf(`${row("edge-1")} td.sync`, /^in sync$/);
    await textOf(`${row("edge-2")} td.sync`, /^in sync$/);
    assert.equal(await page.locator("#gateways tr").count(), 2);
    assert.equal(await page.locator(`${row("edge-1")} td.name`).textContent(), "edge-1");
    assert.equal(await page.locator(`${row("edge-1")} td.online`).textContent(), "online");
    assert.match((await page.locator(`${row("edge-1")} td.applied`).textContent()) ?? "", new RegExp(`^r${revision} · [0-9a-f]{12}$`));
    assert.match((await page.locator(`${row("edge-1")} td.heartbeat`).textContent()) ?? "", /just now|\d+ s ago/);
    assert.equal(await page.locator(`${row("edge-1")} td.error`).textContent(), "none");
    assert.match((await page.locator(`${row("edge-1")} td.version`).textContent()) ?? "", / on (bun|deno|node)/);
    // The token expiry warning: edge-1's (3 days) is marked, edge-2's (30 days) is not.
    assert.match((await page.locator(`${row("edge-1")} td.expires`).textContent()) ?? "", /^in (3 days|\d+ h)$/);
    assert.equal(await page.locator(`${row("edge-1")} td.expires.soon .warn-text`).count(), 1);
    assert.match((await page.locator(`${row("edge-2")} td.expires`).textContent()) ?? "", /^in (29|30) days$/);
    assert.equal(await page.locator(`${row("edge-2")} td.expires.soon`).count(), 0);

    // The token lives in sessionStorage only: not in the URL, not in a cookie; it goes in the header.
    assert.equal(page.url(), `${plane.url}/`);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("portico-admin-token")), adminToken);
    assert.equal(await page.evaluate(() => document.cookie), "");
    const sent = statusRequests.filter((r) => r.authorization === `Bearer ${adminToken}`);
    assert.ok(sent.length > 0, JSON.stringify(statusRequests));
    assert.ok(
      statusRequests.every((r) => [`${plane.url}/v1/admin/status`, `${plane.url}/v1/admin/metrics`].includes(r.url) && r.cookie === undefined),
      JSON.stringify(statusRequests),
    );
  });

  it("shows a rejected desired configuration with every problem, as text (no markup from the data)", async () => {
    plane.writeConfig(
      "broken.yaml",
      'apis:\n  - { name: evil, path: /evil, backend: "<img id=injected src=x>" }\n  - { name: echo, path: /e2, backend: echo }\n',
    );
    try {
      await textOf("#rejected", /Desired configuration rejected/);
      const problems = await page.locator("#rejected ul.problems li").allTextContents();
      assert.equal(problems.length, 2, problems.join("\n"));
      assert.match(problems[0]!, /broken\.yaml:2:\d+: apis\[\d+\]\.backend: .*\(got "<img id=injected src=x>"\)/);
      assert.match(problems[1]!, /broken\.yaml:3:\d+: apis\[\d+\]\.name: duplicate API name "echo"/);
      assert.equal(await page.locator("#injected").count(), 0, "a value from the API never becomes markup");
      // The last good revision is still the desired one, and the gateways stay in sync with it.
      assert.equal(await page.locator(`#gateways tr[data-gateway="edge-1"] td.sync`).textContent(), "in sync");
    } finally {
      plane.writeConfig("broken.yaml", "# fixed\n");
    }
    await eventually("the rejection clears on the page", async () => !(await page.locator("#rejected").isVisible()), 12_000);
  });

  it("shows the error a gateway reports, and a gateway going offline", async () => {
    copyFileSync(join(ROOT, "policies-wasm/dist/fixtures/abi-v2.wasm"), join(plane.dataDir, "config", "future.wasm"));
    plane.writeConfig(
      "apis.yaml",
      config(`  - { name: future-api, path: /future, backend: echo, policies: { inbound: [ { policy: future } ] } }
policies:
  future: { module: ./future.wasm }`),
    );
    await textOf(`#gateways tr[data-gateway="edge-1"] td.sync`, /^not in sync$/);
    const error = await textOf(`#gateways tr[data-gateway="edge-1"] td.error`, /ABI/);
    // The refused revision and hash are the desired ones shown in the same row.
    const desired = (await page.locator(`#gateways tr[data-gateway="edge-1"] td.desired`).textContent()) ?? "";
    assert.match(desired, /^r\d+ · [0-9a-f]{12}$/);
    assert.ok(error.includes(`refused ${desired}`), `${error} names ${desired}`);
    assert.ok((await page.locator(`#gateways tr[data-gateway="edge-1"] td.error ul.problems li`).count()) >= 1, error);
    assert.equal(await page.locator(`#gateways tr[data-gateway="edge-1"] td.online`).textContent(), "online");

    await edge2.stop();
    await textOf(`#gateways tr[data-gateway="edge-2"] td.online`, /^offline$/);
  });

  it("runs under its Content-Security-Policy without violations or script errors", () => {
    assert.deepEqual(cspViolations, []);
    assert.deepEqual(pageErrors, []);
  });
});
