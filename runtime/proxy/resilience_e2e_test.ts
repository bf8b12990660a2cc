import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { freePort, type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

/** Polls `check` until it returns a value, or fails after `timeoutMs`. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("backend resilience: circuit breaker, retry and forward-request", { timeout: 120_000 }, () => {
  let upstream: Upstream;
  let gw: GatewayProcess;
  /** Requests the backend received, by path. */
  const hits = new Map<string, number>();
  /** Request bodies the backend received, by path. */
  const bodies = new Map<string, string[]>();
  /** Whether the backend behind the breaker fails (500) or answers 200. */
  let breakingFails = true;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const path = req.url ?? "/";
        const n = (hits.get(path) ?? 0) + 1;
        hits.set(path, n);
        bodies.set(path, [...(bodies.get(path) ?? []), Buffer.concat(chunks).toString()]);
        if (path.startsWith("/fail2/")) {
          res.statusCode = n <= 2 ? 503 : 200;
          return res.end(n <= 2 ? "not yet" : `ok after ${n}: ${Buffer.concat(chunks).toString()}`);
        }
        if (path.startsWith("/fail-always/")) return (res.statusCode = 503, res.end("down"));
        if (path.startsWith("/status/")) return (res.statusCode = Number(path.slice(8)), res.end("status"));
        if (path === "/slow") return void setTimeout(() => res.end("slow"), 6_000);
        if (path === "/redirect") return (res.statusCode = 302, res.setHeader("location", "/hop"), res.end());
        if (path === "/hop") return (res.statusCode = 307, res.setHeader("location", "/target?x=1"), res.end());
        if (path === "/redirect-away") return (res.statusCode = 302, res.setHeader("location", "http://127.0.0.2:9/x"), res.end());
        if (path === "/target?x=1") return res.end("landed");
        if (path === "/chunked") {
          res.write("part one, ");
          return void setTimeout(() => res.end("part two"), 50);
        }
        if (path.startsWith("/brk2/")) return (res.statusCode = 500, res.end("always broken"));
        if (path.startsWith("/brk")) return (res.statusCode = breakingFails ? 500 : 200, res.end(breakingFails ? "broken" : "fine"));
        res.end("ok");
      });
    });
    const closed = await freePort(); // nothing listens there: connections are refused
    const retry = (extra: string) =>
      `{ policy: retry, with: { condition: { status-codes: [502, 503, 504], connection-errors: true }, count: 3, interval: 0.05${extra} } }`;
    gw = await startGatewayProcess({
      config: `
apis:
  - { name: breaker, path: /breaker, backend: breaking }
  - name: retry
    path: /retry
    backend: up
    policies: { backend: [ ${retry("")} ] }
  - name: retry-post
    path: /retry-post
    backend: up
    policies:
      backend:
        - { policy: forward-request, with: { buffer-request-body: true } }
        - ${retry(", retry-non-idempotent: true")}
  - name: retry-buffered
    path: /retry-buffered
    backend: up
    policies:
      backend:
        - { policy: forward-request, with: { buffer-request-body: true } }
        - ${retry("")}
  - name: retry-streamed
    path: /retry-streamed
    backend: up
    policies: { backend: [ ${retry(", retry-non-idempotent: true")} ] }
  - name: retry-breaker
    path: /retry-breaker
    backend: breaking-2
    policies: { backend: [ { policy: retry, with: { condition: { status-codes: [500] }, count: 5, interval: 0 } } ] }
  - name: retry-pool
    path: /retry-pool
    backend: half-down
    policies: { backend: [ ${retry("")} ] }
  - name: no-retry-pool
    path: /no-retry-pool
    backend: half-down-2
  - name: fwd-timeout
    path: /fwd-timeout
    backend: up
    policies: { backend: [ { policy: forward-request, with: { timeout: 0.5 } } ] }
  - name: fwd-fail
    path: /fwd-fail
    backend: up
    policies:
      backend: [ { policy: forward-request, with: { fail-on-error-status-code: true } } ]
      on-error: [ { policy: set-header, with: { name: x-error-handled, value: "yes" } } ]
  - name: fwd-redirect
    path: /fwd-redirect
    backend: up
    policies: { backend: [ { policy: forward-request, with: { follow-redirects: true, buffer-response: true } } ] }
  - { name: plain, path: /plain, backend: up }
backends:
  up: { urls: ["${upstream.url}"], timeout: 10s }
  breaking:
    urls: ["${upstream.url}/brk"]
    circuitBreaker:
      rules:
        - name: server-errors
          failureCondition: { count: 3, interval: PT1M, statusCodeRanges: [ { min: 500, max: 599 } ] }
          tripDuration: PT2S
  breaking-2:
    urls: ["${upstream.url}/brk2"]
    circuitBreaker:
      rules:
        - name: two
          failureCondition: { count: 2, interval: 1m, statusCodeRanges: [ { min: 500, max: 599 } ] }
          tripDuration: 1m
  half-down: { urls: ["http://127.0.0.1:${closed}", "${upstream.url}/pool"] }
  half-down-2: { urls: ["http://127.0.0.1:${closed}", "${upstream.url}/pool2"] }
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  it("trips the breaker after 3 failures, answers 503 with Retry-After without calling the backend, then half-opens and closes on success", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/breaker/x`);
      assert.equal(res.status, 500);
      await res.body?.cancel();
    }
    assert.equal(hits.get("/brk/x"), 3);
    const refused = await fetch(`${gw.url}/breaker/x`);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("content-type"), "application/problem+json");
    const retryAfter = Number(refused.headers.get("retry-after"));
    assert.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After ${retryAfter}`);
    assert.equal((await refused.json()).type, "urn:portico:problem:backend-circuit-open");
    assert.equal(hits.get("/brk/x"), 3, "the open breaker did not call the backend");

    breakingFails = false;
    // After tripDuration (2 s) one probe goes through; its success closes the breaker.
    const probed = await eventually("the half-open probe", async () => {
      const res = await fetch(`${gw.url}/breaker/x`);
      const text = await res.text();
      return res.status === 200 ? text : undefined;
    });
    assert.equal(probed, "fine");
    assert.equal(hits.get("/brk/x"), 4);
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${gw.url}/breaker/x`)).status, 200);
    assert.equal(hits.get("/brk/x"), 7);

    const metrics = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
    assert.match(metrics, /portico_backend_circuit_breaker_trips(_total)?\{[^}]*backend="breaking"[^}]*\} 1\b/);
    assert.match(metrics, /portico_backend_circuit_breaker_state\{[^}]*backend="breaking"[^}]*\} 0\b/);
  });

  it("retries a GET on 503 until the backend answers, within count", async () => {
    const res = await fetch(`${gw.url}/retry/fail2/get`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok after 3: ");
    assert.equal(hits.get("/fail2/get"), 3);

    const exhausted = await fetch(`${gw.url}/retry/fail-always/get`);
    assert.equal(exhausted.status, 503, "the last attempt's answer goes to the client");
    assert.equal(await exhausted.text(), "down");
    assert.equal(hits.get("/fail-always/get"), 4, "one attempt and count (3) retries");

    const metrics = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
    const retries = /portico_backend_retries(_total)?\{[^}]*backend="up"[^}]*\} (\d+)/.exec(metrics);
    assert.ok(retries && Number(retries[2]) >= 5, metrics);
  });

  it("replays a buffered POST body with retry-non-idempotent, and does not retry a POST without it", async () => {
    const res = await fetch(`${gw.url}/retry-post/fail2/post`, { method: "POST", body: "hello body" });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok after 3: hello body");
    assert.deepEqual(bodies.get("/fail2/post"), ["hello body", "hello body", "hello body"]);

    const once = await fetch(`${gw.url}/retry-buffered/fail2/post-once`, { method: "POST", body: "x" });
    assert.equal(once.status, 503);
    await once.body?.cancel();
    assert.equal(hits.get("/fail2/post-once"), 1, "a buffered POST is not retried without retry-non-idempotent");

    const put = await fetch(`${gw.url}/retry-buffered/fail2/put`, { method: "PUT", body: "put body" });
    assert.equal(put.status, 200, "PUT is idempotent: retried with its buffered body");
    assert.equal(await put.text(), "ok after 3: put body");
  });

  it("does not retry a request whose body streamed (not buffered)", async () => {
    const res = await fetch(`${gw.url}/retry-streamed/fail2/streamed`, { method: "POST", body: "streamed" });
    assert.equal(res.status, 503);
    await res.body?.cancel();
    assert.equal(hits.get("/fail2/streamed"), 1);
    assert.deepEqual(bodies.get("/fail2/streamed"), ["streamed"]);
  });

  it("stops retrying when the breaker trips: each retry passes the breaker", async () => {
    const res = await fetch(`${gw.url}/retry-breaker/x`);
    assert.equal(res.status, 503);
    assert.equal((await res.json()).type, "urn:portico:problem:backend-circuit-open");
    assert.equal(hits.get("/brk2/x"), 2, "two failures tripped the breaker; the third attempt was refused");
  });

  it("retries a refused connection on the next member of the pool", async () => {
    // Round robin over a closed port and the backend: without retry, one of two calls fails.
    const without = [await fetch(`${gw.url}/no-retry-pool/a`), await fetch(`${gw.url}/no-retry-pool/a`)];
    assert.deepEqual(without.map((r) => r.status).sort(), [200, 502]);
    for (const r of without) await r.body?.cancel();
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${gw.url}/retry-pool/a`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "ok");
    }
    assert.equal(hits.get("/pool/a"), 4);
  });

  it("forward-request timeout overrides the backend's", async () => {
    const started = Date.now();
    const res = await fetch(`${gw.url}/fwd-timeout/slow`);
    assert.equal(res.status, 504);
    assert.equal((await res.json()).type, "urn:portico:problem:backend-timeout");
    assert.ok(Date.now() - started < 4_500, `answered after ${Date.now() - started} ms`);
  });

  it("fail-on-error-status-code turns a backend 404 into an error that runs on-error", async () => {
    const res = await fetch(`${gw.url}/fwd-fail/status/404`);
    assert.equal(res.status, 502);
    assert.equal((await res.json()).type, "urn:portico:problem:backend-error-status");
    assert.equal(res.headers.get("x-error-handled"), "yes");
    const fine = await fetch(`${gw.url}/fwd-fail/status/200`);
    assert.equal(fine.status, 200);
    await fine.body?.cancel();
  });

  it("follow-redirects follows same-origin redirects only; without it the redirect goes to the client", async () => {
    const followed = await fetch(`${gw.url}/fwd-redirect/redirect`, { redirect: "manual" });
    assert.equal(followed.status, 200);
    assert.equal(await followed.text(), "landed");
    const away = await fetch(`${gw.url}/fwd-redirect/redirect-away`, { redirect: "manual" });
    assert.equal(away.status, 302);
    await away.body?.cancel();
    const plain = await fetch(`${gw.url}/plain/redirect`, { redirect: "manual" });
    assert.equal(plain.status, 302);
    assert.equal(plain.headers.get("location"), "/hop");
    await plain.body?.cancel();
  });

  it("buffer-response answers with the whole body and its length", async () => {
    const res = await fetch(`${gw.url}/fwd-redirect/chunked`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-length"), String("part one, part two".length));
    assert.equal(await res.text(), "part one, part two");
  });
});
