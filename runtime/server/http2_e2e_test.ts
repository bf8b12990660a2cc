import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { type ClientHttp2Session, connect } from "node:http2";
import { after, before, describe, it } from "node:test";
import { issue, type IssuedCertificate, makeCa } from "../../test/certificates.ts";
import { freePort, type GatewayProcess, startGatewayProcess, tempDir } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";
import { loadAdapter } from "./detect.ts";

/**
 * HTTP/2 from clients, end to end on the runtime under test: curl (`--http2` by ALPN on the HTTPS
 * listener, `--http2-prior-knowledge` on the plain one) gets the same answers as over HTTP/1.1,
 * h2load runs many streams over few connections without an error, and the net.server.http2.*
 * settings do what they say.
 */

/**
 * Why this runtime's listeners do not offer HTTP/2, if they do not (Deno: the capability table in
 * docs/protocols.md says why); then only the settings tests that apply to it run, and one checks
 * that it serves HTTP/1.1 and refuses h2c at start.
 */
const unavailable = (await loadAdapter()).capabilities.http2ServerUnavailable;

interface CurlAnswer {
  readonly version: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** One request with curl; `mode` picks the protocol. Rejects when curl fails (no answer). */
function curl(
  url: string,
  mode: "http1.1" | "http2" | "http2-prior-knowledge",
  options: { ca?: string; host?: string; port?: number; args?: string[] } = {},
): Promise<CurlAnswer> {
  const resolve = options.host ? ["--resolve", `${options.host}:${options.port}:127.0.0.1`] : [];
  const args = [
    "-sS",
    `--${mode}`,
    ...(options.ca ? ["--cacert", options.ca] : []),
    ...resolve,
    ...(options.args ?? []),
    "-D",
    "-",
    "-w",
    "\n%{http_version}",
    url,
  ];
  return new Promise((done, reject) => {
    execFile("curl", args, { timeout: 15_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`curl ${mode} ${url}: ${stderr || error.message}`));
      const cut = stdout.lastIndexOf("\n");
      const version = stdout.slice(cut + 1);
      const text = stdout.slice(0, cut);
      const split = text.indexOf("\r\n\r\n");
      const head = text.slice(0, split).split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      done({ version, status: Number(head[0]!.split(" ")[1]), headers, body: text.slice(split + 4) });
    });
  });
}

/** h2load's counts of a run: `-n requests` over `-c connections` with `-m` streams each. */
function h2load(url: string, requests: number, connections: number, streams: number): Promise<{ succeeded: number; failed: number; errored: number }> {
  return new Promise((done, reject) => {
    execFile("h2load", [`-n${requests}`, `-c${connections}`, `-m${streams}`, url], { timeout: 120_000 }, (error, stdout) => {
      if (error && (error as NodeJS.ErrnoException).code === "ENOENT") return reject(new Error("h2load is not installed (Debian package nghttp2-client)"));
      const counts = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
      if (!counts) return reject(new Error(`cannot read h2load's report:\n${stdout}`));
      done({ succeeded: Number(counts[1]), failed: Number(counts[2]), errored: Number(counts[3]) });
    });
  });
}

/** The SETTINGS a server sends first, read with node:http2's client. */
function remoteSettings(url: string, ca: string, host: string): Promise<{ maxConcurrentStreams?: number; maxHeaderListSize?: number }> {
  return new Promise((done, reject) => {
    const session: ClientHttp2Session = connect(url, { ca, servername: host });
    session.once("error", reject);
    session.once("remoteSettings", (settings) => {
      session.close();
      done(settings);
    });
  });
}

/** The answers that must be the same whatever the protocol: status, the headers that matter, the body. */
function essence(answer: CurlAnswer, headers: readonly string[]) {
  return { status: answer.status, body: answer.body, ...Object.fromEntries(headers.map((h) => [h, answer.headers[h]])) };
}

if (!unavailable) {
  describe("HTTP/2 from clients: h2 by ALPN and h2c with prior knowledge", { timeout: 240_000 }, () => {
    const dir = tempDir();
    const ca = makeCa(dir);
    let site: IssuedCertificate;
    let upstream: Upstream;
    let gw: GatewayProcess;
    let httpsPort: number;

    before(async () => {
      site = issue(dir, ca, "api.test");
      upstream = await startUpstream();
      httpsPort = await freePort();
      gw = await startGatewayProcess({
        config: `
hostnames:
  - { host: api.test, cert: ${site.certFile}, key: ${site.keyFile} }
apis:
  - name: echo
    path: /echo
    backend: up
    policies:
      inbound: [ { policy: set-header, with: { name: x-added, value: "by-gateway" } } ]
      outbound: [ { policy: set-header, with: { name: x-served-by, value: portico } } ]
  - name: guarded
    path: /guarded
    backend: up
    policies:
      inbound: [ { policy: check-header, with: { name: x-token, values: ["letmein"], failed-check-httpcode: 401, failed-check-error-message: "no token" } } ]
  - name: host-a
    path: /h
    hosts: [api.test]
    backend: up
    policies: { inbound: [ { policy: set-header, with: { name: x-which, value: a } } ] }
  - name: host-b
    path: /h
    hosts: [other.test]
    backend: up
    policies: { inbound: [ { policy: set-header, with: { name: x-which, value: b } } ] }
backends:
  up: { urls: ["${upstream.url}"] }
`,
        env: { PORTICO_NET_SERVER_HTTPS_PORT: String(httpsPort), PORTICO_NET_SERVER_HTTP2_CLEARTEXT: "true" },
        ready: false,
      });
      await gw.waitForOutput(/HTTPS certificates live/, 30_000);
    });

    after(async () => {
      await gw?.stop();
      await upstream?.close();
    });

    const https = (path: string) => `https://api.test:${httpsPort}${path}`;
    const tls = () => ({ ca: ca.certFile, host: "api.test", port: httpsPort });

    it("answers the same over h2 (ALPN), h2c (prior knowledge) and HTTP/1.1: a routed call with policy effects, a policy's refusal, a 404, a POST body", async () => {
      const cases: { path: string; args?: string[]; headers: string[] }[] = [
        { path: "/echo/a?x=1", headers: ["x-served-by", "content-type"] },
        { path: "/guarded/a", headers: ["content-type"] },
        { path: "/guarded/a", args: ["-H", "x-token: letmein"], headers: [] },
        { path: "/nowhere", headers: ["content-type"] },
        { path: "/echo/post", args: ["--data-binary", "a body of some length ".repeat(2000)], headers: ["x-served-by"] },
      ];
      for (const { path, args, headers } of cases) {
        const h1 = await curl(https(path), "http1.1", { ...tls(), args });
        const h2 = await curl(https(path), "http2", { ...tls(), args });
        const h2c = await curl(`${gw.url}${path}`, "http2-prior-knowledge", { args });
        const plain = await curl(`${gw.url}${path}`, "http1.1", { args });
        assert.equal(h1.version, "1.1");
        assert.equal(h2.version, "2", `${path}: TLS with --http2 negotiated HTTP/2`);
        assert.equal(h2c.version, "2", `${path}: prior knowledge spoke HTTP/2`);
        // The echo backend shows what it received, with the protocol-specific request headers apart.
        const clean = (a: CurlAnswer) => {
          const e = essence(a, headers);
          if (a.headers["content-type"]?.startsWith("application/json") && a.status === 200) {
            const seen = JSON.parse(a.body);
            for (const h of ["host", "x-forwarded-proto", "x-forwarded-host", "content-length", "x-forwarded-for", "forwarded", "connection"]) {
              delete seen.headers[h];
            }
            return { ...e, body: seen };
          }
          return a.status === 404 || a.status === 401 ? { ...e, body: JSON.parse(a.body).type } : e;
        };
        assert.deepEqual(clean(h2), clean(h1), `${path}: h2 and HTTP/1.1 over TLS`);
        assert.deepEqual(clean(h2c), clean(plain), `${path}: h2c and HTTP/1.1 on the plain listener`);
      }
      const routed = await curl(https("/echo/a"), "http2", tls());
      assert.equal(JSON.parse(routed.body).headers["x-added"], "by-gateway", "inbound policy applied over h2");
      const refused = await curl(https("/guarded/a"), "http2", tls());
      assert.equal(refused.status, 401);
      assert.match(refused.headers["content-type"]!, /application\/problem\+json/);
    });

    it("routes by :authority over h2 and h2c as by Host over HTTP/1.1", async () => {
      const which = async (answer: Promise<CurlAnswer>) => JSON.parse((await answer).body).headers["x-which"];
      assert.equal(await which(curl(https("/h/x"), "http2", tls())), "a");
      // curl sends a Host header given on HTTP/2 as :authority.
      assert.equal(await which(curl(https("/h/x"), "http2", { ...tls(), args: ["-H", "Host: other.test"] })), "b");
      assert.equal(await which(curl(`${gw.url}/h/x`, "http2-prior-knowledge", { args: ["-H", "Host: api.test"] })), "a");
      assert.equal(await which(curl(`${gw.url}/h/x`, "http2-prior-knowledge", { args: ["-H", "Host: other.test"] })), "b");
      assert.equal(await which(curl(`${gw.url}/h/x`, "http1.1", { args: ["-H", "Host: other.test"] })), "b");
    });

    it("h2load: 100 streams over 4 connections, on TLS and on h2c, complete with no error", async () => {
      for (const url of [`https://127.0.0.1:${httpsPort}/echo/load`, `${gw.url}/echo/load`]) {
        const run = await h2load(url, 2_000, 4, 25);
        assert.deepEqual(run, { succeeded: 2_000, failed: 0, errored: 0 }, url);
      }
    });

    it("announces the default limits in its SETTINGS (256 streams, a 16 KiB header list)", async () => {
      const settings = await remoteSettings(`https://127.0.0.1:${httpsPort}`, ca.cert, "api.test");
      assert.equal(settings.maxConcurrentStreams, 256);
      assert.equal(settings.maxHeaderListSize, 16 * 1024);
    });

    it("ends the stream of a request whose answer came before its body (RST_STREAM NO_ERROR), and the connection keeps serving", async () => {
      // The client runs on Node whatever runs the tests: Deno's node:http2 client stalls on a stream
      // reset while it is still writing (the gateway on Deno answers a Node client correctly).
      const script = `
const { connect } = require("node:http2");
const session = connect(process.argv[1], { ca: process.env.CA, servername: "api.test" });
session.on("error", (e) => { console.log("session-error " + e.message); process.exit(1); });
const early = session.request({ ":method": "POST", ":path": "/guarded/upload", "content-type": "application/octet-stream" });
early.on("error", () => {});
early.on("response", (h) => console.log("early " + h[":status"]));
early.resume();
early.write(Buffer.alloc(64 * 1024, 1));
early.on("close", () => {
  console.log("reset " + early.rstCode);
  const next = session.request({ ":path": "/guarded/again", "x-token": "letmein" });
  next.on("response", (h) => { console.log("next " + h[":status"]); session.close(); });
  next.on("error", (e) => { console.log("next-error " + e.message); process.exit(1); });
  next.resume();
  next.end();
});
`;
      const out = await new Promise<string>((resolve, reject) => {
        execFile(
          "node",
          ["-e", script, `https://127.0.0.1:${httpsPort}`],
          { timeout: 30_000, env: { ...process.env, CA: ca.cert } },
          (error, stdout) => error ? reject(new Error(`${error.message}\n${stdout}`)) : resolve(stdout),
        );
      });
      assert.deepEqual(out.trim().split("\n"), ["early 401", "reset 0", "next 200"]);
    });
  });
}

describe("HTTP/2 settings: off, limits", { timeout: 240_000 }, () => {
  const dir = tempDir();
  const ca = makeCa(dir);
  const site = issue(dir, ca, "api.test");
  let upstream: Upstream;
  const gateways: GatewayProcess[] = [];

  before(async () => {
    upstream = await startUpstream();
  });

  after(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await upstream?.close();
  });

  async function gateway(env: Record<string, string>, ready = true): Promise<{ gw: GatewayProcess; httpsPort: number }> {
    const httpsPort = await freePort();
    const gw = await startGatewayProcess({
      config: `
hostnames:
  - { host: api.test, cert: ${site.certFile}, key: ${site.keyFile} }
apis:
  - { name: echo, path: /echo, backend: up }
backends:
  up: { urls: ["${upstream.url}"] }
`,
      env: { PORTICO_NET_SERVER_HTTPS_PORT: String(httpsPort), ...env },
      ready: false,
    });
    gateways.push(gw);
    if (ready) await gw.waitForOutput(/HTTPS certificates live/, 30_000);
    return { gw, httpsPort };
  }

  it("with net.server.http2.enabled false, TLS clients asking for h2 get HTTP/1.1; without cleartext, prior-knowledge h2c is refused and HTTP/1.1 still works", async () => {
    const { gw, httpsPort } = await gateway({ PORTICO_NET_SERVER_HTTP2_ENABLED: "false" });
    const answer = await curl(`https://api.test:${httpsPort}/echo/a`, "http2", { ca: ca.certFile, host: "api.test", port: httpsPort });
    assert.equal(answer.version, "1.1");
    assert.equal(answer.status, 200);
    await assert.rejects(curl(`${gw.url}/echo/a`, "http2-prior-knowledge"), "h2c is not served unless net.server.http2.cleartext is on");
    assert.equal((await curl(`${gw.url}/echo/a`, "http1.1")).status, 200);
  });

  if (unavailable) {
    it("where the runtime cannot serve HTTP/2, TLS clients asking for h2 get HTTP/1.1 and the start says so; net.server.http2.cleartext stops the gateway at start with the reason", async () => {
      const { gw, httpsPort } = await gateway({});
      const answer = await curl(`https://api.test:${httpsPort}/echo/a`, "http2", { ca: ca.certFile, host: "api.test", port: httpsPort });
      assert.equal(answer.version, "1.1");
      assert.equal(answer.status, 200);
      assert.match(gw.output(), /HTTP\/2 is not offered to clients on deno/);
      const refused = await gateway({ PORTICO_NET_SERVER_HTTP2_CLEARTEXT: "true" }, false);
      assert.notEqual(await refused.gw.exited(), 0);
      assert.match(refused.gw.output(), /net\.server\.http2\.cleartext: not on deno .*crashes the process/);
    });
  }

  if (!unavailable) {
    it("announces net.server.http2.max-concurrent-streams and max-header-list-size, and refuses a header list over the limit", async () => {
      const { httpsPort } = await gateway({ PORTICO_NET_SERVER_HTTP2_MAX_CONCURRENT_STREAMS: "10", PORTICO_NET_SERVER_HTTP2_MAX_HEADER_LIST_SIZE: "4KiB" });
      const settings = await remoteSettings(`https://127.0.0.1:${httpsPort}`, ca.cert, "api.test");
      assert.equal(settings.maxConcurrentStreams, 10);
      assert.equal(settings.maxHeaderListSize, 4096);
      const small = await curl(`https://api.test:${httpsPort}/echo/a`, "http2", {
        ca: ca.certFile,
        host: "api.test",
        port: httpsPort,
        args: ["-H", `x-small: ${"s".repeat(1000)}`],
      });
      assert.equal(small.status, 200);
      const big = curl(`https://api.test:${httpsPort}/echo/a`, "http2", {
        ca: ca.certFile,
        host: "api.test",
        port: httpsPort,
        args: ["-H", `x-big: ${"b".repeat(8000)}`],
      });
      const refused = await big.then((a) => a.status, () => "no answer");
      // node:http2 answers 431 problem+json (the gateway checks the list); Bun.serve resets the stream.
      assert.ok(refused === 431 || refused === "no answer", `a header list over 4 KiB is refused (got ${refused})`);
      assert.equal(upstream.seen.some((s) => s.headers["x-big"] !== undefined), false, "the backend never saw it");
    });
  }

  if (!unavailable) {
    it("h2c with limits other than the runtime's own stops the gateway at start where the runtime cannot honour them, and is served elsewhere", async () => {
      const fixed = (await loadAdapter()).capabilities.plainHttp2Limits;
      const env = { PORTICO_NET_SERVER_HTTP2_CLEARTEXT: "true", PORTICO_NET_SERVER_HTTP2_MAX_CONCURRENT_STREAMS: "32" };
      if (fixed) {
        const { gw } = await gateway(env, false);
        const code = await gw.exited();
        assert.notEqual(code, 0);
        assert.match(gw.output(), /net\.server\.http2\.max-concurrent-streams: h2c on bun/);
      } else {
        const { gw } = await gateway(env);
        const answer = await curl(`${gw.url}/echo/a`, "http2-prior-knowledge");
        assert.equal(answer.version, "2");
        assert.equal(answer.status, 200);
      }
    });
  }
});

if (!unavailable) {
  describe("HTTP/2 with client certificates (the node:tls listener where HTTP/2 is offered)", { timeout: 120_000 }, () => {
    const dir = tempDir();
    const ca = makeCa(dir);
    const alice = issue(dir, ca, "alice.test", "alice");
    let upstream: Upstream;
    let gw: GatewayProcess;
    let httpsPort: number;

    before(async () => {
      const secure = issue(dir, ca, "secure.test");
      upstream = await startUpstream();
      httpsPort = await freePort();
      gw = await startGatewayProcess({
        config: `
apis:
  - name: alice-only
    path: /alice
    backend: up
    policies: { inbound: [ { policy: validate-client-certificate, with: { identities: [ { common-name: alice.test } ] } } ] }
backends:
  up: { urls: ["${upstream.url}"] }
hostnames:
  - { host: secure.test, cert: ${secure.certFile}, key: ${secure.keyFile}, negotiateClientCertificate: true, clientCa: ${ca.certFile} }
`,
        env: { PORTICO_NET_SERVER_HTTPS_PORT: String(httpsPort) },
        ready: false,
      });
      await gw.waitForOutput(/HTTPS certificates live/, 30_000);
    });

    after(async () => {
      await gw?.stop();
      await upstream?.close();
    });

    it("validate-client-certificate sees the client's certificate over h2, and refuses without one", async () => {
      const options = { ca: ca.certFile, host: "secure.test", port: httpsPort };
      const url = `https://secure.test:${httpsPort}/alice/x`;
      const withCert = await curl(url, "http2", { ...options, args: ["--cert", alice.certFile, "--key", alice.keyFile] });
      assert.equal(withCert.version, "2");
      assert.equal(withCert.status, 200, withCert.body);
      const without = await curl(url, "http2", options);
      assert.equal(without.version, "2");
      assert.equal(without.status, 403);
      assert.equal(JSON.parse(without.body).type, "urn:portico:problem:client-certificate-rejected");
    });
  });
}
