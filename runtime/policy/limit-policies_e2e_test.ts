import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { after, before, describe, it } from "node:test";
import { freePort, type GatewayProcess, ROOT, startGatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

// Stateful built-in policies (counters, quotas, concurrency slots) and the huge-output fixture, in a
// real gateway process (the runtime running this test) against real backends on loopback.
describe("rate limits, quotas and concurrency limits in a real gateway", () => {
  let upstream: Upstream;
  let gw: GatewayProcess;
  /** Responses the backend holds (paths starting with /slow) until the test lets them go. */
  const held: ServerResponse[] = [];

  before(async () => {
    upstream = await startUpstream((req, res) => {
      req.resume();
      if (req.url!.includes("/slow")) {
        held.push(res);
        return;
      }
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
    });
    const closed = await freePort();
    gw = await startGatewayProcess({
      config: `
apis:
  - name: by-key
    path: /by-key
    backend: b
    policies:
      inbound:
        - policy: rate-limit-by-key
          with:
            calls: 3
            renewal-period: 2
            counter-key: "{request.header.x-api-key}"
            remaining-calls-header-name: x-remaining
            total-calls-header-name: x-total
            retry-after-variable-name: retry
        - { policy: set-header, with: { name: x-after-limit, value: ran } }
  - name: heavy
    path: /heavy
    backend: b
    policies:
      inbound: [ { policy: rate-limit-by-key, with: { calls: 3, renewal-period: 60, counter-key: "{request.ip}", increment-count: 2 } } ]
  - name: api-one
    path: /one
    backend: b
    policies: { inbound: [ { policy: rate-limit, with: { calls: 2, renewal-period: 60 } } ] }
  - name: api-two
    path: /two
    backend: b
    policies: { inbound: [ { policy: rate-limit, with: { calls: 2, renewal-period: 60 } } ] }
  - name: api-three
    path: /three
    backend: b
    policies: { inbound: [ { policy: rate-limit, with: { calls: 1, renewal-period: 60, retry-after-header-name: x-retry-in } } ] }
  - name: quota
    path: /quota
    backend: b
    policies: { inbound: [ { policy: quota-by-key, with: { calls: 2, renewal-period: 3600, counter-key: "{request.ip}" } } ] }
  - name: slots
    path: /slots
    backend: b
    policies: { inbound: [ { policy: limit-concurrency, with: { key: "{api.name}", max-count: 2 } } ] }
  - name: down
    path: /down
    backend: closed
    policies: { inbound: [ { policy: limit-concurrency, with: { key: "{request.path}", max-count: 1 } } ] }
  - name: huge-header
    path: /huge-header
    backend: b
    policies: { inbound: [ { policy: huge, with: { mode: header } } ] }
  - name: huge-body
    path: /huge-body
    backend: b
    policies: { inbound: [ { policy: huge, with: { mode: body } } ] }
  - name: huge-blocks
    path: /huge-blocks
    backend: b
    policies: { inbound: [ { policy: huge, with: { mode: blocks }, failure: open } ] }
  - name: free
    path: /free
    backend: b
backends:
  b: { urls: ["${upstream.url}"] }
  closed: { urls: ["http://127.0.0.1:${closed}"], timeout: 2s }
policies:
  huge: { module: ${JSON.stringify(`${ROOT}policies-wasm/dist/fixtures/huge-output.wasm`)}, budget: { fuel: 100000000, memory: 128MiB } }
`,
    });
  });

  after(async () => {
    for (const res of held) res.end();
    await gw?.stop();
    await upstream?.close();
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${gw.url}${path}`, { headers });
    const body = await res.text();
    return { status: res.status, headers: res.headers, body };
  };

  describe("rate-limit-by-key", () => {
    it("lets `calls` requests per key through per window, then answers 429 with Retry-After (a problem not to be cached), and starts again after the window", {
      timeout: 30_000,
    }, async () => {
      const remaining: (string | null)[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await get("/by-key/x", { "x-api-key": "alpha" });
        assert.equal(res.status, 200, `call ${i + 1}`);
        remaining.push(res.headers.get("x-remaining"));
        assert.equal(res.headers.get("x-total"), "3");
      }
      assert.deepEqual(remaining, ["2", "1", "0"]);
      assert.equal(upstream.seen.at(-1)!.headers["x-after-limit"], "ran", "the rest of the chain runs for allowed calls");
      const before = upstream.seen.length;
      const refused = await get("/by-key/x", { "x-api-key": "alpha" });
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.get("content-type"), "application/problem+json");
      assert.equal(refused.headers.get("cache-control"), "no-store");
      const problem = JSON.parse(refused.body);
      assert.equal(problem.type, "urn:portico:problem:rate-limited");
      const retry = Number(refused.headers.get("retry-after"));
      assert.ok(retry >= 1 && retry <= 2, `Retry-After ${retry}`);
      assert.match(problem.detail, new RegExp(`Try again in ${retry} seconds`));
      assert.equal(refused.headers.get("x-remaining"), "0");
      assert.equal(upstream.seen.length, before, "a refused call never reaches the backend");
      assert.equal((await get("/by-key/x", { "x-api-key": "beta" })).status, 200, "another key has its own counter");
      await new Promise((resolve) => setTimeout(resolve, retry * 1000 + 100));
      assert.equal((await get("/by-key/x", { "x-api-key": "alpha" })).status, 200, "a new window starts after Retry-After");
    });

    it("counts increment-count per call and refuses a call that would pass the limit", async () => {
      assert.equal((await get("/heavy/x")).status, 200);
      const refused = await get("/heavy/x");
      assert.equal(refused.status, 429, "2 + 2 would pass 3");
      assert.ok(Number(refused.headers.get("retry-after")) > 1);
    });
  });

  describe("rate-limit", () => {
    it("limits each API on its own, even when two APIs use the same parameters (and share one instance)", async () => {
      assert.equal((await get("/one/a")).status, 200);
      assert.equal((await get("/one/b")).status, 200);
      const one = await get("/one/c");
      assert.equal(one.status, 429);
      const retry = Number(one.headers.get("retry-after"));
      assert.ok(retry > 50 && retry <= 60, `Retry-After ${retry}`);
      assert.equal((await get("/two/a")).status, 200, "the other API's counter is untouched");
      assert.equal((await get("/two/a")).status, 200);
      assert.equal((await get("/two/a")).status, 429);
    });

    it("sends the retry interval in the header APIM's retry-after-header-name chooses", async () => {
      assert.equal((await get("/three/a")).status, 200);
      const three = await get("/three/a");
      assert.equal(three.status, 429);
      assert.ok(Number(three.headers.get("x-retry-in")) > 50);
      assert.equal(three.headers.get("retry-after"), null);
    });
  });

  describe("quota-by-key", () => {
    it("answers 403 once the quota for the key is used, saying when it is replenished", async () => {
      assert.equal((await get("/quota/x")).status, 200);
      assert.equal((await get("/quota/x")).status, 200);
      const refused = await get("/quota/x");
      assert.equal(refused.status, 403);
      const problem = JSON.parse(refused.body);
      assert.equal(problem.type, "urn:portico:problem:quota-exceeded");
      assert.match(problem.detail, /Quota will be replenished in 0\d:\d\d:\d\d\./);
      assert.ok(Number(refused.headers.get("retry-after")) > 3500);
    });
  });

  describe("limit-concurrency", () => {
    it("answers 429 beyond max-count requests in flight, and frees the slots when responses are ready", async () => {
      const first = [fetch(`${gw.url}/slots/slow/1`), fetch(`${gw.url}/slots/slow/2`)];
      const deadline = Date.now() + 5_000;
      while (held.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(held.length, 2, "both requests reached the backend");
      const third = await get("/slots/slow/3");
      assert.equal(third.status, 429);
      assert.equal(JSON.parse(third.body).type, "urn:portico:problem:concurrency-limited");
      for (const res of held.splice(0)) res.end("done");
      for (const res of await Promise.all(first)) {
        assert.equal(res.status, 200);
        assert.equal(await res.text(), "done");
      }
      assert.equal((await get("/slots/fast")).status, 200, "slots were given back");
    });

    it("gives a slot back when the backend cannot be reached", async () => {
      assert.equal((await get("/down/x")).status, 502);
      assert.equal((await get("/down/x")).status, 502, "not 429: the first request's slot was released");
    });
  });

  describe("huge-output fixture", () => {
    it("fails a policy that hands the host a 1 MiB header or an 8 MiB body, quickly, while other routes serve", { timeout: 30_000 }, async () => {
      const rssBefore = gw.rss();
      const started = Date.now();
      const huge = Array.from({ length: 4 }, (_, i) => get(i % 2 ? "/huge-header/x" : "/huge-body/x"));
      const free = Array.from({ length: 20 }, () => get("/free/x"));
      for (const res of await Promise.all(huge)) {
        assert.equal(res.status, 500);
        assert.equal(JSON.parse(res.body).type, "urn:portico:problem:policy-failed");
      }
      for (const res of await Promise.all(free)) assert.equal(res.status, 200);
      assert.ok(Date.now() - started < 10_000, `answered within ${Date.now() - started} ms`);
      await gw.waitForOutput(/policy passed a header value of \d+ bytes; the limit is 16384/);
      await gw.waitForOutput(/policy passed a reply body of 8388608 bytes; the limit is 1048576/);
      const grown = gw.rss() - rssBefore;
      assert.ok(grown < 200 * 1024 * 1024, `RSS grew by ${Math.round(grown / 1048576)} MiB`);
    });

    it("stops a policy that keeps allocating host memory; with failure: open the request goes on", { timeout: 30_000 }, async () => {
      const res = await get("/huge-blocks/x");
      assert.equal(res.status, 200);
      await gw.waitForOutput(/exceeded its host memory for this call/);
    });
  });
});
