import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { issue, type IssuedCertificate, makeCa } from "../../test/certificates.ts";
import { type ForwardProxy, startForwardProxy } from "../../test/forward-proxy.ts";
import { freePort, type GatewayProcess, startGatewayProcess, tempDir } from "../../test/harness.ts";
import { type Http2Backends, http2BackendState, startHttp2Backends } from "../../test/http2-backend-process.ts";

/** What an HTTP/2 test backend saw of one request (test/http2-backend.ts). */
interface Seen {
  readonly version: string;
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly scheme: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly bytes: number;
  readonly sha256: string;
}

describe("HTTP/2 to backends (protocol: http2)", { timeout: 180_000 }, () => {
  const dir = tempDir();
  let ca: IssuedCertificate;
  // HTTP/2-only backends (h2c, h2 over TLS) and a TLS backend speaking only HTTP/1.1, on Node.
  let backends: Http2Backends;
  let ports: { h2c: number; tls: number; http1: number; down: number };
  let proxy: ForwardProxy;
  let gateway: GatewayProcess;
  let proxied: GatewayProcess;

  const config = () => `
apis:
  - name: plain
    path: /plain
    backend: h2c
    policies:
      inbound: [ { policy: set-header, with: { name: x-added, value: by-gateway } } ]
  - { name: secure, path: /secure, backend: h2tls }
  - { name: impatient, path: /impatient, backend: impatient }
  - { name: old, path: /old, backend: old }
  - { name: down, path: /down, backend: down }
backends:
  h2c: { urls: ["http://127.0.0.1:${ports.h2c}"], protocol: http2 }
  h2tls: { urls: ["https://127.0.0.1:${ports.tls}"], protocol: http2, tls: { ca: ${ca.certFile}, sni: backend.test } }
  impatient: { urls: ["http://127.0.0.1:${ports.h2c}"], protocol: http2, timeout: 500ms }
  old: { urls: ["https://127.0.0.1:${ports.http1}"], protocol: http2, tls: { ca: ${ca.certFile}, sni: backend.test }, timeout: 5s }
  down: { urls: ["http://127.0.0.1:${ports.down}"], protocol: http2 }
`;

  before(async () => {
    ca = makeCa(dir);
    const cert = issue(dir, ca, "backend.test");
    backends = await startHttp2Backends(cert.cert, cert.key);
    ports = { h2c: backends.h2c, tls: backends.tls, http1: backends.http1, down: await freePort() };
    gateway = await startGatewayProcess({ config: config() });
    proxy = await startForwardProxy();
    proxied = await startGatewayProcess({ config: config(), env: { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: "" } });
  });

  after(async () => {
    await gateway?.stop();
    await proxied?.stop();
    await proxy?.close();
    backends?.child.kill();
  });

  it("sends an HTTP/1.1 client's request over h2c: method, path and query, the backend's authority, policy headers, no connection headers; both cookies come back", async () => {
    const response = await fetch(`${gateway.url}/plain/echo?x=1&y=%2F`, { headers: { "x-client": "c1", connection: "keep-alive" } });
    assert.equal(response.status, 200);
    assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
    const seen = (await response.json()) as Seen;
    assert.equal(seen.version, "2.0");
    assert.equal(seen.method, "GET");
    assert.equal(seen.path, "/echo?x=1&y=%2F");
    assert.equal(seen.scheme, "http");
    assert.equal(seen.authority, `127.0.0.1:${ports.h2c}`);
    assert.equal(seen.headers["x-client"], "c1");
    assert.equal(seen.headers["x-added"], "by-gateway");
    assert.match(String(seen.headers["x-forwarded-for"]), /127\.0\.0\.1/);
    for (const name of ["connection", "keep-alive", "transfer-encoding", "upgrade", "host"]) assert.equal(seen.headers[name], undefined, name);
  });

  it("streams a 1 MiB request body to the backend and a 4 MiB response body back, byte for byte", async () => {
    const body = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const posted = await fetch(`${gateway.url}/plain/echo`, { method: "POST", body });
    const seen = (await posted.json()) as Seen;
    assert.equal(seen.method, "POST");
    assert.equal(seen.bytes, body.length);
    assert.equal(seen.sha256, createHash("sha256").update(body).digest("hex"));
    const big = await fetch(`${gateway.url}/plain/big`);
    assert.equal(big.status, 200);
    assert.equal((await big.arrayBuffer()).byteLength, 4 * 1024 * 1024);
  });

  it("multiplexes concurrent requests on one connection per backend", async () => {
    const before = (await http2BackendState(backends)).sessions.h2c;
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => fetch(`${gateway.url}/plain/echo?i=${i}`).then((r) => r.json() as Promise<Seen>)));
    assert.deepEqual(answers.map((a) => a.path), Array.from({ length: 50 }, (_, i) => `/echo?i=${i}`));
    const opened = (await http2BackendState(backends)).sessions.h2c - before;
    assert.ok(opened <= 1, `new HTTP/2 connections: ${opened}`);
  });

  it("speaks h2 by ALPN to an https:// backend, with its CA and server name", async () => {
    const response = await fetch(`${gateway.url}/secure/echo`);
    assert.equal(response.status, 200);
    const seen = (await response.json()) as Seen;
    assert.equal(seen.version, "2.0");
    assert.equal(seen.scheme, "https");
    assert.ok((await http2BackendState(backends)).sessions.tls >= 1);
  });

  it("answers 504 when the backend sends no headers within its timeout, and cancels the backend's stream", async () => {
    const started = Date.now();
    const response = await fetch(`${gateway.url}/impatient/slow`);
    assert.equal(response.status, 504);
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    assert.ok(Date.now() - started < 2_500, `answered after ${Date.now() - started} ms`);
    const deadline = Date.now() + 2_000;
    while ((await http2BackendState(backends)).cancelled < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await http2BackendState(backends)).cancelled, 1, "the backend saw its stream cancelled");
    // The connection is still good for the next request.
    assert.equal((await fetch(`${gateway.url}/impatient/echo`)).status, 200);
  });

  it("answers 502 for a backend that is down and for a TLS backend that does not offer h2", async () => {
    const down = await fetch(`${gateway.url}/down/echo`);
    assert.equal(down.status, 502);
    assert.equal(((await down.json()) as { type: string }).type.endsWith("backend-unreachable"), true);
    const old = await fetch(`${gateway.url}/old/echo`);
    assert.equal(old.status, 502);
    await old.body?.cancel();
    // The gateway keeps serving.
    assert.equal((await fetch(`${gateway.url}/plain/echo`)).status, 200);
  });

  it("reaches h2c and h2 backends through the egress proxy's CONNECT tunnels", async () => {
    const plain = await fetch(`${proxied.url}/plain/echo?via=proxy`);
    assert.equal(plain.status, 200);
    assert.equal(((await plain.json()) as Seen).version, "2.0");
    const secure = await fetch(`${proxied.url}/secure/echo`);
    assert.equal(secure.status, 200);
    assert.equal(((await secure.json()) as Seen).scheme, "https");
    const tunnels = proxy.seen.filter((s) => s.method === "CONNECT").map((s) => s.target);
    assert.ok(tunnels.includes(`127.0.0.1:${ports.h2c}`), `tunnels: ${tunnels.join(", ")}`);
    assert.ok(tunnels.includes(`127.0.0.1:${ports.tls}`), `tunnels: ${tunnels.join(", ")}`);
  });
});
