import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { freePort, type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { rawRequest } from "../../test/raw-http.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

describe("forwarding to backends", () => {
  let echo: Upstream;
  let slow: Upstream;
  let gw: GatewayProcess;
  const gz = gzipSync("compressed body, passed through untouched");

  before(async () => {
    echo = await startUpstream((req, res) => {
      req.resume();
      if (req.url === "/gzip") {
        res.writeHead(200, { "content-type": "text/plain", "content-encoding": "gzip", "content-length": gz.length });
        return res.end(gz);
      }
      if (req.url === "/hop") {
        res.setHeader("connection", "x-upstream-hop");
        res.setHeader("x-upstream-hop", "secret");
        res.setHeader("keep-alive", "timeout=5");
        res.setHeader("x-kept", "yes");
        res.setHeader("set-cookie", ["a=1", "b=2"]);
        return res.end("ok");
      }
      if (req.url === "/redirect") {
        res.writeHead(302, { location: "/elsewhere" });
        return res.end();
      }
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(req.url);
    });
    slow = await startUpstream((req, res) => {
      req.resume();
      setTimeout(() => {
        res.writeHead(200);
        res.end("late");
      }, 1_500);
    });
    const closedPort = await freePort();
    gw = await startGatewayProcess({
      config: `
apis:
  - { name: echo, path: /echo, backend: echo }
  - name: out
    path: /out
    backend: echo
    policies: { outbound: [ { policy: set-header, with: { name: x-added, value: "by-policy" } } ] }
  - { name: slow, path: /slow, backend: slow }
  - { name: down, path: /down, backend: down }
backends:
  echo: { urls: ["${echo.url}"] }
  slow: { urls: ["${slow.url}"], timeout: 300ms }
  down: { urls: ["http://127.0.0.1:${closedPort}"], timeout: 2s }
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await echo?.close();
    await slow?.close();
  });

  const lastSeen = () => echo.seen[echo.seen.length - 1]!;

  it("forwards encoded paths and query strings exactly as routed", async () => {
    const targets: Array<[sent: string, expected: string]> = [
      ["/echo/a%2Fb/c%20d;p=1?x=%2F&y=a+b&z&&=&%ZZ", "/a%2Fb/c%20d;p=1?x=%2F&y=a+b&z&&=&%ZZ"],
      ["/echo//double//slash?q=1", "/double/slash?q=1"],
      ["/echo/a//b", "/a/b"],
      ["/echo/x/../y?", "/y"],
      ["/echo/a/%2e%2E/b", "/b"],
      ["/echo/%7Euser/%E2%82%AC?k=%E2%82%AC", "/%7Euser/%E2%82%AC?k=%E2%82%AC"],
      ["/echo?only=query", "/?only=query"],
    ];
    for (const [sent, expected] of targets) {
      const res = await rawRequest(gw.port, `GET ${sent} HTTP/1.1\r\nHost: gw.test`);
      assert.equal(res.status, 200, sent);
      assert.equal(lastSeen().url, expected, sent);
      assert.equal(res.body, expected, sent);
    }
  });

  it("never lets dot segments climb out of the API prefix", async () => {
    const res = await rawRequest(gw.port, "GET /echo/%2e%2e/down/x HTTP/1.1\r\nHost: gw.test");
    assert.equal(res.status, 502, "/echo/../down/x is routed as /down/x, the down API");
  });

  it("strips hop-by-hop headers in both directions and sets forwarding headers", async () => {
    const res = await rawRequest(
      gw.port,
      [
        "GET /echo/hop HTTP/1.1",
        "Host: Gw.Test:8443",
        "Connection: keep-alive, x-client-hop",
        "x-client-hop: 1",
        "Keep-Alive: timeout=9",
        "TE: trailers",
        "Proxy-Authorization: Basic c2VjcmV0",
        "X-Forwarded-For: 6.6.6.6",
        "X-Forwarded-Host: evil.test",
        "Forwarded: for=6.6.6.6",
        "X-Custom: kept",
      ].join("\r\n"),
    );
    assert.equal(res.status, 200);
    const seen = lastSeen().headers;
    for (const name of ["x-client-hop", "keep-alive", "te", "proxy-authorization"]) assert.equal(seen[name], undefined, `${name} must not reach the backend`);
    assert.equal(seen["x-custom"], "kept");
    assert.equal(seen["x-forwarded-for"], "127.0.0.1");
    assert.equal(seen["x-forwarded-proto"], "http");
    assert.equal(seen["x-forwarded-host"], "Gw.Test:8443");
    assert.equal(seen.forwarded, 'for=127.0.0.1;proto=http;host="Gw.Test:8443"');
    assert.equal(seen.host, `127.0.0.1:${echo.port}`, "the backend gets its own host");
    assert.equal(res.headers["x-upstream-hop"], undefined, "headers named by the backend's Connection header are dropped");
    assert.equal(res.headers["keep-alive"], undefined);
    assert.equal(res.headers["x-kept"], "yes");
    assert.equal(res.headers["set-cookie"], "a=1, b=2");
  });

  it("sends the backend each of the client's own headers once, as sent, and joins a repeated one as web Headers do", async () => {
    const res = await rawRequest(
      gw.port,
      [
        "GET /echo/fields HTTP/1.1",
        "Host: gw.test",
        "X-Mixed-Case: Value  with  inner  spaces",
        "ACCEPT-LANGUAGE: en",
        "Cookie: a=1; b=2",
        "X-Forwarded-Port: 99",
        "Accept-Encoding: br",
      ].join("\r\n"),
    );
    assert.equal(res.status, 200);
    const { headers, rawHeaders } = lastSeen();
    const names = rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
    assert.deepEqual(names.filter((name, i) => names.indexOf(name) !== i), [], "no field is sent twice");
    assert.equal(headers["x-mixed-case"], "Value  with  inner  spaces");
    assert.equal(headers["accept-language"], "en");
    assert.equal(headers.cookie, "a=1; b=2");
    assert.equal(headers["accept-encoding"], "br");
    assert.equal(headers["x-forwarded-port"], undefined, "a client's X-Forwarded-* is not trusted");
    assert.equal(headers.connection === undefined || headers.connection === "keep-alive", true, "the client's Connection is not forwarded");
    assert.equal(headers["x-forwarded-host"], "gw.test");

    const repeated = await rawRequest(gw.port, ["GET /echo/fields HTTP/1.1", "Host: gw.test", "Accept: text/html", "accept: application/json"].join("\r\n"));
    assert.equal(repeated.status, 200);
    assert.equal(lastSeen().headers.accept, "text/html, application/json");
    assert.equal(lastSeen().headers["accept-encoding"], "identity", "a client that named no encoding gets none");
  });

  it("gives an outbound policy the backend's answer without hop-by-hop headers, and keeps its status, headers and body", async () => {
    const hop = await rawRequest(gw.port, "GET /out/hop HTTP/1.1\r\nHost: gw.test");
    assert.equal(hop.status, 200);
    assert.equal(hop.headers["x-added"], "by-policy");
    assert.equal(hop.headers["x-upstream-hop"], undefined, "headers named by the backend's Connection header are dropped");
    assert.equal(hop.headers["keep-alive"], undefined);
    assert.equal(hop.headers["x-kept"], "yes");
    assert.equal(hop.headers["set-cookie"], "a=1, b=2");
    assert.equal(hop.body, "ok");
    const gzipped = await rawRequest(gw.port, "GET /out/gzip HTTP/1.1\r\nHost: gw.test\r\nAccept-Encoding: gzip");
    assert.equal(gzipped.headers["x-added"], "by-policy");
    assert.equal(gzipped.headers["content-encoding"], "gzip");
    assert.equal(gunzipSync(Buffer.from(gzipped.body, "latin1")).toString(), "compressed body, passed through untouched");
    const redirect = await rawRequest(gw.port, "GET /out/redirect HTTP/1.1\r\nHost: gw.test");
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.location, "/elsewhere");
    assert.equal(redirect.headers["x-added"], "by-policy");
    // The next answer on the same backend response path is not affected by the previous one's changes.
    const plain = await rawRequest(gw.port, "GET /echo/hop HTTP/1.1\r\nHost: gw.test");
    assert.equal(plain.headers["x-added"], undefined);
  });

  it("passes compressed bodies and redirects through untouched", async () => {
    const res = await fetch(`${gw.url}/echo/gzip`, { headers: { "accept-encoding": "gzip" } });
    assert.equal(res.headers.get("content-encoding"), "gzip");
    const raw = await rawRequest(gw.port, "GET /echo/gzip HTTP/1.1\r\nHost: gw.test\r\nAccept-Encoding: gzip");
    assert.deepEqual(Buffer.from(raw.body, "latin1"), gz);
    assert.equal(lastSeen().headers["accept-encoding"], "gzip");
    await rawRequest(gw.port, "GET /echo/plain HTTP/1.1\r\nHost: gw.test");
    assert.equal(lastSeen().headers["accept-encoding"], "identity", "no encoding is negotiated on the client's behalf");
    const redirect = await fetch(`${gw.url}/echo/redirect`, { redirect: "manual" });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get("location"), "/elsewhere");
  });

  it("answers 504 problem+json when the backend sends no headers within its timeout", async () => {
    const started = Date.now();
    const res = await fetch(`${gw.url}/slow/x`);
    const elapsed = Date.now() - started;
    assert.equal(res.status, 504);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    const body = await res.json();
    assert.equal(body.type, "urn:portico:problem:backend-timeout");
    assert.ok(elapsed < 1_400, `answered after ${elapsed} ms, before the backend's 1.5 s`);
    assert.doesNotMatch(JSON.stringify(body), /127\.0\.0\.1|slow/, "no internals in the problem");
  });

  it("answers 502 problem+json when the backend is unreachable", async () => {
    const res = await fetch(`${gw.url}/down/x`);
    assert.equal(res.status, 502);
    const body = await res.json();
    assert.equal(body.type, "urn:portico:problem:backend-unreachable");
    assert.doesNotMatch(JSON.stringify(body), /127\.0\.0\.1|ECONNREFUSED/);
    await gw.waitForOutput(/could not be reached/);
  });
});
