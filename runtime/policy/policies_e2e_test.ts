import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, ROOT, startGatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

describe("policy chains in a real gateway (WebAssembly built-ins and a custom module)", () => {
  let upstream: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/plain", "x-internal": "secret", "x-upstream": "yes" });
      res.end("ok");
    });
    gw = await startGatewayProcess({
      config: `
apis:
  - name: orders
    path: /orders
    backend: b
    policies:
      inbound:
        - { policy: set-header, with: { name: x-tenant, value: acme } }
        - { policy: set-header, with: { name: authorization, exists-action: delete } }
      outbound:
        - { policy: set-header, with: { name: x-internal, exists-action: delete } }
        - { policy: set-header, with: { name: x-served-by, value: portico } }
    operations:
      - { name: list, method: GET, url: / }
      - name: get
        method: GET
        url: "/{id}"
        policies:
          inbound: [ { policy: set-header, with: { name: x-op, value: get } }, base ]
      - name: replace
        method: PUT
        url: "/{id}"
        policies:
          inbound: [ { policy: set-header, with: { name: x-tenant, value: override, exists-action: override } } ]
  - name: broken
    path: /broken
    backend: b
    policies:
      inbound: [ { policy: trap } ]
  - name: tolerant
    path: /tolerant
    backend: b
    policies:
      inbound:
        - { policy: trap, failure: open }
        - { policy: set-header, with: { name: x-after, value: ran } }
  - name: keyed
    path: /keyed
    backend: b
    policies:
      inbound:
        - policy: check-header
          with: { name: x-api-key, failed-check-httpcode: 401, failed-check-error-message: 'Missing or "wrong" key', ignore-case: true, values: [Key-One, key-two] }
        - { policy: set-header, with: { name: x-checked, value: "yes" } }
  - name: maintenance
    path: /maintenance
    backend: b
    policies:
      inbound:
        - { policy: return-response, with: { status-code: 503, content-type: text/plain, body: "Back soon" } }
        - { policy: set-header, with: { name: x-never, value: set } }
  - name: spin
    path: /spin
    backend: b
    policies:
      inbound: [ { policy: spin } ]
backends:
  b: { urls: ["${upstream.url}"] }
policies:
  trap: { module: ${JSON.stringify(`${ROOT}policies-wasm/dist/fixtures/trap.wasm`)} }
  spin: { module: ${JSON.stringify(`${ROOT}policies-wasm/dist/fixtures/infinite-loop.wasm`)}, budget: { fuel: 2000000, memory: 1MiB } }
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const last = () => upstream.seen.at(-1)!.headers;

  it("runs the API's inbound and outbound chains around the backend call", async () => {
    const res = await fetch(`${gw.url}/orders`, { headers: { authorization: "Bearer x", "x-tenant": "client" } });
    assert.equal(res.status, 200);
    assert.equal(last()["x-tenant"], "acme");
    assert.equal(last().authorization, undefined);
    assert.equal(res.headers.get("x-served-by"), "portico");
    assert.equal(res.headers.get("x-internal"), null);
    assert.equal(res.headers.get("x-upstream"), "yes");
    assert.equal(await res.text(), "ok");
  });

  it("puts the API's chain where an operation says base, and after the operation's own when it does not", async () => {
    await fetch(`${gw.url}/orders/7`);
    assert.equal(last()["x-op"], "get");
    assert.equal(last()["x-tenant"], "acme");
    await fetch(`${gw.url}/orders/7`, { method: "PUT", body: "x" });
    assert.equal(last()["x-tenant"], "override", "without base the API's chain runs first, then the operation's");
  });

  it("answers 500 problem+json when a policy fails with failure: closed, without calling the backend", async () => {
    const before = upstream.seen.length;
    const res = await fetch(`${gw.url}/broken/x`);
    assert.equal(res.status, 500);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    assert.equal((await res.json()).type, "urn:portico:problem:policy-failed");
    assert.equal(upstream.seen.length, before);
    await gw.waitForOutput(/policy \\"trap\\" failed in on_request/);
    const again = await fetch(`${gw.url}/broken/x`);
    assert.equal(again.status, 500, "a fresh instance replaces the failed one and fails the same way");
    const metrics = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
    assert.match(metrics, /^portico_policy_failures_total\{policy="trap",kind="trap"\} 2$/m);
    assert.match(metrics, /^portico_policy_calls_total\{policy="trap"\} 2$/m);
    assert.match(metrics, /^portico_policy_duration_seconds_count\{policy="trap"\} 2$/m);
  });

  it("check-header lets a listed value through (case ignored) and answers a missing or unlisted one itself, with a problem not to be cached", async () => {
    const ok = await fetch(`${gw.url}/keyed/x`, { headers: { "x-api-key": "KEY-ONE" } });
    assert.equal(ok.status, 200);
    assert.equal(last()["x-checked"], "yes", "the rest of the chain ran");
    const before = upstream.seen.length;
    for (const headers of [{}, { "x-api-key": "key-three" }] as Record<string, string>[]) {
      const res = await fetch(`${gw.url}/keyed/x`, { headers });
      assert.equal(res.status, 401);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      assert.equal(res.headers.get("cache-control"), "no-store");
      const body = await res.json();
      assert.equal(body.type, "urn:portico:problem:policy-rejected");
      assert.equal(body.detail, 'Missing or "wrong" key');
    }
    assert.equal(upstream.seen.length, before, "the backend was not called");
  });

  it("return-response answers without calling the backend and ends the chain", async () => {
    const before = upstream.seen.length;
    const res = await fetch(`${gw.url}/maintenance/anything`);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("content-type"), "text/plain");
    assert.equal(await res.text(), "Back soon");
    assert.equal(upstream.seen.length, before);
  });

  it("stops a policy that never returns within its budget while other routes keep serving", async () => {
    const started = Date.now();
    const spinning = Array.from({ length: 5 }, () => fetch(`${gw.url}/spin/x`));
    const others = Array.from({ length: 20 }, () => fetch(`${gw.url}/orders`));
    for (const res of await Promise.all(spinning)) {
      assert.equal(res.status, 500);
      assert.equal((await res.json()).type, "urn:portico:problem:policy-failed");
    }
    for (const res of await Promise.all(others)) {
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    assert.ok(Date.now() - started < 5_000, `all answered within ${Date.now() - started} ms`);
  });

  it("skips a failing policy with failure: open and runs the rest of the chain", async () => {
    const res = await fetch(`${gw.url}/tolerant/x`);
    assert.equal(res.status, 200);
    assert.equal(last()["x-after"], "ran");
    await gw.waitForOutput(/policy failed and was skipped/);
  });

  it("refuses a configuration whose module does not match its sha256, and keeps the last good one", async () => {
    const mark = gw.output().length;
    writeFileSync(
      gw.configFile,
      `apis: [ { name: t, path: /t, backend: b, policies: { inbound: [ { policy: trap } ] } } ]
backends: { b: { urls: ["${upstream.url}"] } }
policies:
  trap: { module: ${JSON.stringify(`${ROOT}policies-wasm/dist/fixtures/trap.wasm`)}, sha256: "${"0".repeat(64)}" }
`,
    );
    await gw.waitForOutput(/configuration rejected/, 5_000, mark);
    assert.match(gw.output().slice(mark), /policies\.trap\.sha256: the module.s sha256 is [0-9a-f]{64}, not 0{64}/);
    assert.equal((await fetch(`${gw.url}/orders`)).status, 200, "the previous configuration still serves");
  });
});
