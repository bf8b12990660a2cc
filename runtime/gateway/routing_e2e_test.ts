import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { rawRequest } from "../../test/raw-http.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

describe("routing through a real gateway process", () => {
  let a: Upstream;
  let b: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    a = await startUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/plain", "x-upstream": "a" });
      res.end(`a ${req.method} ${req.url}`);
    });
    b = await startUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/plain", "x-upstream": "b" });
      res.end(`b ${req.method} ${req.url}`);
    });
    gw = await startGatewayProcess({
      config: `
apis:
  - { name: orders, path: /orders, backend: a-v2, operations: [
      { name: list, method: GET, url: / },
      { name: get, method: GET, url: "/{id}" },
      { name: items, method: GET, url: "/{id}/items/{rest*}" },
      { name: special, method: GET, url: /special },
      { name: create, method: POST, url: / } ] }
  - { name: orders-deep, path: /orders/archive, backend: b }
  - { name: root, path: /, backend: b }
  - { name: tenant, path: /orders, hosts: [tenant.example.com], backend: b }
  - { name: wild, path: /w, hosts: ["*.wild.test"], backend: a }
backends:
  a: { urls: ["${a.url}"] }
  a-v2: { urls: ["${a.url}/v2/"] }
  b: { urls: ["${b.url}"] }
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await a?.close();
    await b?.close();
  });

  const get = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(gw.url + path, init);
    return { status: res.status, type: res.headers.get("content-type"), text: await res.text(), headers: res.headers };
  };

  it("maps the prefix to the backend's path and forwards the rest and the query", async () => {
    const res = await get("/orders/42?x=1&y=2");
    assert.equal(res.status, 200);
    assert.equal(res.text, "a GET /v2/42?x=1&y=2");
  });

  it("routes the API root and template operations", async () => {
    assert.equal((await get("/orders")).text, "a GET /v2");
    assert.equal((await get("/orders/")).text, "a GET /v2/");
    assert.equal((await get("/orders/7/items/x/y")).text, "a GET /v2/7/items/x/y");
    assert.equal((await get("/orders/special")).text, "a GET /v2/special");
  });

  it("prefers the longest prefix and respects segment boundaries", async () => {
    assert.equal((await get("/orders/archive/2020")).text, "b GET /2020");
    assert.equal((await get("/ordersX")).text, "b GET /ordersX", "'/ordersX' is not under '/orders', so the root API takes it");
  });

  it("routes by host, exact and wildcard, ignoring case and port", async () => {
    const tenant = await rawRequest(gw.port, "GET /orders/1 HTTP/1.1\r\nHost: Tenant.Example.COM:8080");
    assert.equal(tenant.status, 200);
    assert.equal(tenant.body, "b GET /1");
    const wild = await rawRequest(gw.port, "GET /w/z HTTP/1.1\r\nHost: x.wild.test");
    assert.equal(wild.body, "a GET /z");
    const bare = await rawRequest(gw.port, "GET /w/z HTTP/1.1\r\nHost: wild.test");
    assert.equal(bare.body, "b GET /w/z", "*.wild.test does not match wild.test itself");
  });

  it("answers 405 with Allow for a path whose operation takes other methods", async () => {
    const res = await get("/orders/42", { method: "DELETE" });
    assert.equal(res.status, 405);
    assert.equal(res.type, "application/problem+json");
    assert.equal(res.headers.get("allow"), "GET");
    assert.equal(JSON.parse(res.text).type, "urn:portico:problem:method-not-allowed");
  });

  it("answers 404 problem+json when no operation matches", async () => {
    const res = await get("/orders/1/2");
    assert.equal(res.status, 404);
    assert.equal(res.type, "application/problem+json");
    const problem = JSON.parse(res.text);
    assert.equal(problem.type, "urn:portico:problem:no-route");
    assert.equal(problem.status, 404);
    assert.equal(problem.stack, undefined);
  });

  it("serves POST on the collection operation and HEAD on GET operations", async () => {
    assert.equal((await get("/orders", { method: "POST", body: "x" })).text, "a POST /v2");
    const head = await fetch(`${gw.url}/orders/9`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("x-upstream"), "a");
    assert.equal(await head.text(), "");
  });

  it("answers the status probe on the traffic port, and routes anything else on that path like any request", async () => {
    const res = await get("/status-0123456789abcdef");
    assert.equal(res.status, 200);
    assert.equal(res.text, "OK\n");
    // Only a GET of the path itself is the probe: the rest is routed (here by the API at `/`).
    assert.equal((await get("/status-0123456789abcdef", { method: "POST", body: "x" })).text, "b POST /status-0123456789abcdef");
    assert.equal((await get("/status-0123456789abcdef/x")).text, "b GET /status-0123456789abcdef/x");
    assert.equal((await get("/x?status-0123456789abcdef")).text, "b GET /x?status-0123456789abcdef");
  });

  it("answers a HEAD the gateway refuses with the status and headers of its problem, without a body", async () => {
    const head = await fetch(`${gw.url}/orders/1/2`, { method: "HEAD" });
    assert.equal(head.status, 404);
    assert.equal(head.headers.get("content-type"), "application/problem+json");
    assert.equal(await head.text(), "");
  });

  it("reports liveness and readiness on the management port only", async () => {
    const health = await fetch(`http://127.0.0.1:${gw.managementPort}/healthz`);
    assert.equal(health.status, 200);
    const ready = await fetch(`http://127.0.0.1:${gw.managementPort}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await ready.json()).revision, 1);
    const metrics = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
    assert.match(metrics, /^portico_config_revision\{hash="[0-9a-f]{64}",source="file"\} 1$/m, "standalone: the process's own revision, as /readyz says");
    const onTraffic = await get("/healthz");
    assert.equal(onTraffic.text, "b GET /healthz", "management endpoints are not on the traffic port");
  });
});
