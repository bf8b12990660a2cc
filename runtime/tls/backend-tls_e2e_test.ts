import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { issue, type IssuedCertificate, makeCa } from "../../test/certificates.ts";
import { type GatewayProcess, startGatewayProcess, tempDir } from "../../test/harness.ts";
import { startTlsBackend } from "../../test/tls-backend-process.ts";
import { DEFAULT_SUITES } from "../../config/schema/tls.ts";
import { loadAdapter } from "../server/detect.ts";

interface Seen {
  protocol: string;
  cipher: string;
  servername: string | false;
  client: string | null;
}

describe("backend TLS: verification, CA per backend, SNI, client certificates, cipher suites", { timeout: 120_000 }, () => {
  const dir = tempDir();
  let ca: IssuedCertificate;
  let otherCa: IssuedCertificate;
  let backend: { port: number; child: ChildProcess };
  let mtlsBackend: { port: number; child: ChildProcess };
  let cbcBackend: { port: number; child: ChildProcess };
  let clientCert: IssuedCertificate;
  const gateways: GatewayProcess[] = [];

  before(async () => {
    ca = makeCa(dir);
    otherCa = makeCa(dir, "other-ca");
    const server = issue(dir, ca, "backend.test");
    clientCert = issue(dir, ca, "gateway-client.test");
    backend = await startTlsBackend({ cert: server.cert, key: server.key });
    mtlsBackend = await startTlsBackend({ cert: server.cert, key: server.key, clientCa: ca.cert });
    // A weak backend: TLS 1.2 with one CBC suite only.
    cbcBackend = await startTlsBackend({ cert: server.cert, key: server.key, ciphers: "ECDHE-ECDSA-AES128-SHA", maxVersion: "TLSv1.2" });
  });

  after(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    backend?.child.kill();
    mtlsBackend?.child.kill();
    cbcBackend?.child.kill();
  });

  async function gateway(backends: string, env: Record<string, string> = {}): Promise<GatewayProcess> {
    const apis = ["plain", "trusted", "wrong-ca", "unverified", "mtls", "mtls-missing", "cbc"].map((n) => `  - { name: ${n}, path: /${n}, backend: ${n} }`);
    const gw = await startGatewayProcess({ config: `apis:\n${apis.join("\n")}\nbackends:\n${backends}`, env });
    gateways.push(gw);
    return gw;
  }

  const backends = () => `
  plain: { urls: ["https://127.0.0.1:${backend.port}"], timeout: 5s }
  trusted: { urls: ["https://127.0.0.1:${backend.port}"], tls: { ca: ${ca.certFile}, sni: backend.test } }
  wrong-ca: { urls: ["https://127.0.0.1:${backend.port}"], tls: { ca: ${otherCa.certFile}, sni: backend.test } }
  unverified: { urls: ["https://127.0.0.1:${backend.port}"], tls: { verify: false } }
  mtls: { urls: ["https://127.0.0.1:${mtlsBackend.port}"], tls: { ca: ${ca.certFile}, sni: backend.test, cert: ${clientCert.certFile}, key: ${clientCert.keyFile} } }
  mtls-missing: { urls: ["https://127.0.0.1:${mtlsBackend.port}"], tls: { ca: ${ca.certFile}, sni: backend.test } }
  cbc: { urls: ["https://127.0.0.1:${cbcBackend.port}"], tls: { ca: ${ca.certFile}, sni: backend.test }, timeout: 5s }
`;

  async function get(gw: GatewayProcess, path: string): Promise<{ status: number; seen?: Seen }> {
    const res = await fetch(`${gw.url}${path}`);
    const text = await res.text();
    return res.status === 200 ? { status: 200, seen: JSON.parse(text) as Seen } : { status: res.status };
  }

  it("verifies backends by default, trusts a CA given per backend, sends the SNI asked for, and shows a client certificate", async () => {
    const gw = await gateway(backends());
    assert.equal((await get(gw, "/plain/x")).status, 502, "the test CA is not trusted by default");
    const trusted = await get(gw, "/trusted/x");
    assert.equal(trusted.status, 200);
    assert.equal(trusted.seen!.servername, "backend.test");
    assert.equal((await get(gw, "/wrong-ca/x")).status, 502, "a CA that did not sign the backend's certificate");
    assert.equal((await get(gw, "/unverified/x")).status, 200, "verify: false");
    const mtls = await get(gw, "/mtls/x");
    assert.equal(mtls.status, 200);
    assert.equal(mtls.seen!.client, "gateway-client.test");
    assert.equal((await get(gw, "/mtls-missing/x")).status, 502, "the backend requires a client certificate");
  });

  it("refuses by default a backend that offers only a CBC suite, and negotiates an AEAD suite with the others", async () => {
    const gw = await gateway(backends());
    assert.equal((await get(gw, "/cbc/x")).status, 502, "Portico's default suites have no CBC suite");
    const seen = (await get(gw, "/trusted/x")).seen!;
    assert.match(seen.cipher, /^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/, seen.cipher);
  });

  it("reaches the CBC-only backend once net.client.tls.ciphers.allowed-suites lists its suite, where the runtime's client offers it", async () => {
    const caps = (await loadAdapter()).capabilities.upstreamTls;
    // Portico's defaults plus the backend's CBC suite (a list every runtime's client can honour).
    const gw = await gateway(backends(), {
      PORTICO_NET_CLIENT_TLS_CIPHERS_ALLOWED_SUITES: [...DEFAULT_SUITES, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"].join(","),
    });
    const cbc = await get(gw, "/cbc/x");
    if (!caps.restrictTls12Suites) {
      // This client offers its own suites whatever the list says (Deno: rustls, which has no CBC suite).
      assert.equal(cbc.status, 502);
      return;
    }
    assert.equal(cbc.status, 200);
    assert.deepEqual([cbc.seen!.protocol, cbc.seen!.cipher], ["TLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"]);
  });

  it("negotiates only the suites net.client.tls.ciphers.allowed-suites allows, as the backend observes, or refuses to start where the client cannot restrict them", async () => {
    const caps = (await loadAdapter()).capabilities.upstreamTls;
    // The backend (Node) prefers AES-GCM suites: ChaCha20 is negotiated only if the gateway offers nothing else.
    const only12 = "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256";
    if (!caps.restrictTls12Suites) {
      const gw = await startGatewayProcess({
        config: `apis: []\nbackends:\n${backends()}`,
        env: { PORTICO_NET_CLIENT_TLS_CIPHERS_ALLOWED_SUITES: only12 },
        ready: false,
      });
      gateways.push(gw);
      assert.equal(await gw.exited(), 1);
      assert.match(gw.output(), /net\.client\.tls\.ciphers\.allowed-suites: backend connections on .* cannot restrict cipher suites: it always offers/);
      return;
    }
    const gw12 = await gateway(backends(), { PORTICO_NET_CLIENT_TLS_CIPHERS_ALLOWED_SUITES: only12 });
    const seen12 = (await get(gw12, "/trusted/x")).seen!;
    assert.deepEqual([seen12.protocol, seen12.cipher], ["TLSv1.2", only12]);

    const with13 = await gateway(backends(), { PORTICO_NET_CLIENT_TLS_CIPHERS_ALLOWED_SUITES: `${only12},TLS_AES_128_GCM_SHA256` });
    const seen13 = (await get(with13, "/trusted/x")).seen!;
    if (caps.restrictTls13Suites) {
      // The backend would pick TLS_AES_256_GCM_SHA384 if it were offered.
      assert.deepEqual([seen13.protocol, seen13.cipher], ["TLSv1.3", "TLS_AES_128_GCM_SHA256"]);
    } else {
      // TLS 1.3 suites cannot be restricted by this runtime's client: capped at TLS 1.2, and logged.
      assert.deepEqual([seen13.protocol, seen13.cipher], ["TLSv1.2", only12]);
      assert.match(with13.output(), /TLS 1\.3 is off on backend connections/);
    }
  });

  it("keeps at most net.client.tls.max-pools pools per TLS material open on Node and Deno, and serves a backend whose pool was closed", async () => {
    const gw = await gateway(backends(), { PORTICO_NET_CLIENT_TLS_MAX_POOLS: "1" });
    // Three TLS materials, used in turn twice: with one pool allowed, every request after the first closes one.
    for (const path of ["/trusted/x", "/unverified/x", "/mtls/x", "/trusted/x", "/unverified/x", "/mtls/x"]) {
      assert.equal((await get(gw, path)).status, 200, path);
    }
    const text = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
    const value = (name: string) => new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1];
    if ((await loadAdapter()).runtime === "bun") {
      assert.equal(value("portico_upstream_pools"), undefined, "Bun's fetch pools connections itself: nothing to report");
      return;
    }
    assert.equal(value("portico_upstream_pools"), "1");
    assert.equal(value("portico_upstream_pools_evicted_total"), "5");
  });
});
