import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { issue, type IssuedCertificate, makeCa } from "../../test/certificates.ts";
import { createToken, eventually, startControlPlane, startFleetGateway } from "../../test/control-plane.ts";
import { type ForwardProxy, startForwardProxy } from "../../test/forward-proxy.ts";
import { type GatewayProcess, startGatewayProcess, tempDir } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";
import { startTlsBackend } from "../../test/tls-backend-process.ts";
import { DEFAULT_SUITES } from "../../config/schema/tls.ts";
import { loadAdapter } from "../server/detect.ts";

/**
 * What the proxy saw for this test's servers (all on loopback): the runtime itself may use the
 * variables for its own calls (Deno's update check tunnels to dl.deno.land through HTTPS_PROXY).
 */
function ours(proxy: ForwardProxy): ForwardProxy["seen"] {
  return proxy.seen.filter((s) => /^(http:\/\/)?127\.0\.0\.1:/.test(s.target));
}

/** The proxy's password: it must reach the proxy and appear nowhere in the gateway's output. */
const PASSWORD = "pr0xy-s3cret";
const BASIC = `Basic ${Buffer.from(`edge:${PASSWORD}`).toString("base64")}`;

describe("egress proxy: backends and the control plane through a forward proxy", { timeout: 180_000 }, () => {
  const dir = tempDir();
  let ca: IssuedCertificate;
  let clientCert: IssuedCertificate;
  let tlsBackend: { port: number; child: ChildProcess };
  let cbcBackend: { port: number; child: ChildProcess };
  let plain: Upstream;
  let other: Upstream;
  const proxies: ForwardProxy[] = [];
  const gateways: GatewayProcess[] = [];

  before(async () => {
    ca = makeCa(dir);
    const server = issue(dir, ca, "backend.test");
    clientCert = issue(dir, ca, "gateway-client.test");
    // Mutual TLS: the handshake through the tunnel must carry the gateway's client certificate too.
    tlsBackend = await startTlsBackend({ cert: server.cert, key: server.key, clientCa: ca.cert });
    // A weak backend (TLS 1.2, one CBC suite): Portico's default suites refuse it, through a tunnel too.
    cbcBackend = await startTlsBackend({ cert: server.cert, key: server.key, ciphers: "ECDHE-ECDSA-AES128-SHA", maxVersion: "TLSv1.2" });
    plain = await startUpstream();
    other = await startUpstream();
  });

  after(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await Promise.all(proxies.map((p) => p.close()));
    tlsBackend?.child.kill();
    cbcBackend?.child.kill();
    await plain?.close();
    await other?.close();
  });

  async function proxy(requireAuth?: string): Promise<ForwardProxy> {
    const started = await startForwardProxy({ requireAuth });
    proxies.push(started);
    return started;
  }

  const config = () => `
apis:
  - { name: tls, path: /tls, backend: tls }
  - { name: plain, path: /plain, backend: plain }
  - { name: other, path: /other, backend: other }
  - { name: cbc, path: /cbc, backend: cbc }
backends:
  tls: { urls: ["https://127.0.0.1:${tlsBackend.port}"], tls: { ca: ${ca.certFile}, sni: backend.test, cert: ${clientCert.certFile}, key: ${clientCert.keyFile} } }
  plain: { urls: ["${plain.url}"] }
  other: { urls: ["${other.url}"] }
  cbc: { urls: ["https://127.0.0.1:${cbcBackend.port}"], tls: { ca: ${ca.certFile}, sni: backend.test }, timeout: 5s }
`;

  async function gateway(env: Record<string, string>): Promise<GatewayProcess> {
    const gw = await startGatewayProcess({ config: config(), env });
    gateways.push(gw);
    return gw;
  }

  it("tunnels a TLS backend with CONNECT (its CA, SNI and client certificate end to end) and sends absolute-form requests for a plain one, with the credentials as Proxy-Authorization only", async () => {
    const forward = await proxy(BASIC);
    const url = `http://edge:${PASSWORD}@127.0.0.1:${forward.port}`;
    const gw = await gateway({ HTTPS_PROXY: url, HTTP_PROXY: url });

    const tls = await fetch(`${gw.url}/tls/x`);
    assert.equal(tls.status, 200);
    const seen = (await tls.json()) as { servername: string; client: string | null; cipher: string };
    assert.equal(seen.servername, "backend.test", "the SNI the backend asks for, inside the tunnel");
    assert.equal(seen.client, "gateway-client.test", "the backend's client certificate, inside the tunnel");
    assert.match(seen.cipher, /^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/, seen.cipher);
    const cbc = await fetch(`${gw.url}/cbc/x`);
    await cbc.body?.cancel();
    assert.equal(cbc.status, 502, "the client's suites (Portico's defaults, no CBC) apply inside the tunnel");
    assert.ok(ours(forward).some((s) => s.method === "CONNECT" && s.target === `127.0.0.1:${cbcBackend.port}`));

    const res = await fetch(`${gw.url}/plain/y?q=1`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.equal(plain.seen.at(-1)!.url, "/y?q=1");
    assert.equal(plain.seen.at(-1)!.headers["proxy-authorization"], undefined, "the proxy credentials stop at the proxy");

    // The tunnel is kept alive: more requests to the backend do not each open one.
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const again = await fetch(`${gw.url}/tls/again`);
      assert.equal(again.status, 200);
      await again.text();
    }
    const tunnels = ours(forward).filter((s) => s.method === "CONNECT" && s.target === `127.0.0.1:${tlsBackend.port}`);
    assert.ok(tunnels.length >= 1 && tunnels.length < 5, "a CONNECT per request: the tunnel is not reused");
    const connect = ours(forward).find((s) => s.method === "CONNECT");
    assert.equal(connect?.target, `127.0.0.1:${tlsBackend.port}`);
    assert.equal(connect?.proxyAuthorization, BASIC);
    const absolute = ours(forward).find((s) => s.method === "GET");
    assert.equal(absolute?.target, `${plain.url}/y?q=1`);
    assert.equal(absolute?.proxyAuthorization, BASIC);
    assert.ok(ours(forward).every((s) => s.allowed));

    // /readyz and /metrics carry nothing of the proxy's credentials either.
    for (const path of ["/readyz", "/metrics"]) {
      const text = await (await fetch(`http://127.0.0.1:${gw.managementPort}${path}`)).text();
      assert.ok(!text.includes(PASSWORD) && !text.includes(BASIC), `${path} shows the proxy credentials`);
    }
    await gw.stop();
    assert.ok(!gw.output().includes(PASSWORD), "the password is in the gateway's output");
    assert.ok(!gw.output().includes(BASIC.slice(6)), "the encoded credentials are in the gateway's output");
    assert.match(gw.output(), /"egressProxy":\{"http":"http:\/\/127\.0\.0\.1:\d+","https":"http:\/\/127\.0\.0\.1:\d+"\}/);
  });

  it("reaches the CBC-only backend through the tunnel once net.client.tls.ciphers.allowed-suites lists its suite, where the runtime's client offers it", async () => {
    const forward = await proxy();
    const gw = await gateway({
      HTTPS_PROXY: forward.url,
      PORTICO_NET_CLIENT_TLS_CIPHERS_ALLOWED_SUITES: [...DEFAULT_SUITES, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"].join(","),
    });
    const res = await fetch(`${gw.url}/cbc/x`);
    const text = await res.text();
    assert.ok(ours(forward).some((s) => s.method === "CONNECT" && s.target === `127.0.0.1:${cbcBackend.port}`));
    // Deno's client (rustls) has no CBC suite whatever the list says (docs/tls.md).
    if (!(await loadAdapter()).capabilities.upstreamTls.restrictTls12Suites) return assert.equal(res.status, 502);
    assert.equal(res.status, 200, text);
    assert.equal((JSON.parse(text) as { cipher: string }).cipher, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA");
  });

  it("answers 502 when the proxy refuses the credentials, without showing them", async () => {
    const forward = await proxy(BASIC);
    const url = `http://edge:wrong-${PASSWORD}@127.0.0.1:${forward.port}`;
    const gw = await gateway({ https_proxy: url, http_proxy: url });
    for (const path of ["/tls/x", "/plain/x"]) {
      const res = await fetch(`${gw.url}${path}`);
      const body = await res.text();
      assert.equal(res.status, 502, `${path}: ${body}`);
      assert.ok(!body.includes(PASSWORD), body);
    }
    assert.deepEqual(ours(forward).map((s) => [s.method, s.allowed]), [["CONNECT", false], ["GET", false]]);
    await gw.stop();
    assert.ok(!gw.output().includes(PASSWORD), "the password is in the gateway's output");
  });

  it("reaches a backend NO_PROXY names directly (the proxy sees nothing of it), and lets the settings win over the variables", async () => {
    const fromEnv = await proxy();
    const fromSettings = await proxy();
    const gw = await gateway({
      HTTP_PROXY: fromEnv.url,
      NO_PROXY: `example.internal, 127.0.0.1:${plain.port}`,
      PORTICO_NET_CLIENT_PROXY_HTTP: fromSettings.url,
    });
    const exempt = await fetch(`${gw.url}/plain/direct`);
    assert.equal(exempt.status, 200);
    await exempt.body?.cancel();
    assert.equal(plain.seen.at(-1)!.url, "/direct");
    const proxied = await fetch(`${gw.url}/other/proxied`);
    assert.equal(proxied.status, 200);
    await proxied.body?.cancel();
    assert.equal(other.seen.at(-1)!.url, "/proxied");
    assert.deepEqual(ours(fromSettings).map((s) => s.target), [`${other.url}/proxied`], "only the backend NO_PROXY does not name, through the settings' proxy");
    assert.equal(ours(fromEnv).length, 0, "HTTP_PROXY is overridden by net.client.proxy.http");
    // No https proxy is named: the TLS backend is reached directly.
    const tls = await fetch(`${gw.url}/tls/x`);
    assert.equal(tls.status, 200);
    await tls.body?.cancel();
    assert.equal(ours(fromSettings).length, 1);

    // net.client.proxy.no-proxy wins over NO_PROXY: with it, the plain backend goes through the proxy again.
    const strict = await gateway({ HTTP_PROXY: fromEnv.url, NO_PROXY: "*", PORTICO_NET_CLIENT_PROXY_NO_PROXY: "example.internal" });
    const res = await fetch(`${strict.url}/plain/again`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.deepEqual(ours(fromEnv).map((s) => s.target), [`${plain.url}/again`]);
  });

  it("refuses to start on a proxy URL it cannot use, naming the variable", async () => {
    const gw = await startGatewayProcess({ config: config(), env: { HTTPS_PROXY: `socks5://edge:${PASSWORD}@127.0.0.1:1080` }, ready: false });
    gateways.push(gw);
    assert.notEqual(await gw.exited(), 0);
    assert.match(gw.output(), /HTTPS_PROXY \(the environment's value for net\.client\.proxy\.https\): expected an http:\/\/ proxy URL/);
    assert.ok(!gw.output().includes(PASSWORD));
  });

  it("reaches an https control plane through a CONNECT tunnel, trusting config.service.ca inside it", async () => {
    const forward = await proxy(BASIC);
    const cert = issue(dir, ca, "control-plane.test", "cp", ["IP:127.0.0.1"]);
    const plane = await startControlPlane({
      tls: cert,
      files: { "apis.yaml": `apis:\n  - { name: plain, path: /plain, backend: plain }\nbackends:\n  plain: { urls: ["${plain.url}"] }\n` },
    });
    try {
      const token = await createToken(plane.dataDir, "edge-tunnelled");
      const gw = await startFleetGateway(plane, token, {
        env: { HTTPS_PROXY: `http://edge:${PASSWORD}@127.0.0.1:${forward.port}`, PORTICO_CONFIG_SERVICE_CA: ca.certFile },
      });
      gateways.push(gw);
      // Ready means the first configuration arrived (this process does not trust the test CA to ask the plane itself).
      const res = await fetch(`${gw.url}/plain/tunnelled`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
      const tunnels = ours(forward).filter((s) => s.method === "CONNECT");
      assert.ok(tunnels.length > 0 && tunnels.every((s) => s.target === `127.0.0.1:${plane.port}` && s.proxyAuthorization === BASIC && s.allowed));
      await gw.stop();
      assert.ok(!gw.output().includes(PASSWORD));
    } finally {
      await plane.stop();
    }
  });

  it("fetches validate-jwt's keys through the proxy", async () => {
    const forward = await proxy(BASIC);
    const key = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(key.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    const idp = await startUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
    });
    try {
      const gw = await startGatewayProcess({
        config: `
apis:
  - name: jwt
    path: /jwt
    backend: plain
    policies:
      inbound: [ { policy: validate-jwt, with: { jwks: { url: "${idp.url}/jwks" } } } ]
backends:
  plain: { urls: ["${plain.url}"] }
`,
        env: { HTTP_PROXY: `http://edge:${PASSWORD}@127.0.0.1:${forward.port}` },
      });
      gateways.push(gw);
      const token = await new SignJWT({ sub: "alice" }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setExpirationTime("1m").sign(key.privateKey);
      // The first fetch starts when the configuration is compiled; poll until the keys are in.
      await eventually("a token accepted with the keys fetched through the proxy", async () => {
        const res = await fetch(`${gw.url}/jwt/x`, { headers: { authorization: `Bearer ${token}` } });
        await res.body?.cancel();
        return res.status === 200;
      }, 15_000);
      assert.ok(
        ours(forward).some((s) => s.method === "GET" && s.target === `${idp.url}/jwks` && s.proxyAuthorization === BASIC),
        JSON.stringify(forward.seen),
      );
      assert.ok(idp.seen.length > 0 && idp.seen.every((s) => s.headers["proxy-authorization"] === undefined));
    } finally {
      await idp.close();
    }
  });

  it("pulls the configuration and sends heartbeats through the proxy", async () => {
    const forward = await proxy(BASIC);
    const plane = await startControlPlane({
      files: { "apis.yaml": `apis:\n  - { name: plain, path: /plain, backend: plain }\nbackends:\n  plain: { urls: ["${plain.url}"] }\n` },
    });
    try {
      const token = await createToken(plane.dataDir, "edge-proxied");
      const gw = await startFleetGateway(plane, token, { env: { HTTP_PROXY: `http://edge:${PASSWORD}@127.0.0.1:${forward.port}` } });
      gateways.push(gw);
      const res = await fetch(`${gw.url}/plain/z`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
      const base = `${plane.url}/v1/gateways/edge-proxied`;
      await eventually("a heartbeat through the proxy", () => forward.seen.some((s) => s.method === "POST" && s.target === `${base}/heartbeat`), 10_000);
      assert.ok(forward.seen.some((s) => s.method === "GET" && s.target === `${base}/configuration`), JSON.stringify(forward.seen));
      assert.ok(ours(forward).every((s) => s.proxyAuthorization === BASIC && s.allowed));
      await eventually(
        "the control plane sees the gateway online",
        async () => (await plane.status()).gateways.some((g) => g.name === "edge-proxied" && g.online),
      );
      const status = JSON.stringify(await plane.status());
      assert.ok(!status.includes(PASSWORD) && !status.includes(BASIC.slice(6)), "the heartbeat carries the proxy credentials");
      await gw.stop();
      assert.ok(!gw.output().includes(PASSWORD));
    } finally {
      await plane.stop();
    }
  });
});
