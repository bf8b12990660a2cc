import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { bundle, issue, type IssuedCertificate, makeCa, makeIntermediate, withChain } from "../../test/certificates.ts";
import { freePort, type GatewayProcess, startGatewayProcess, tempDir } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

/** curl over HTTPS with an optional client certificate; the status and the body. */
function curl(port: number, ca: string, host: string, path: string, client?: IssuedCertificate): Promise<{ status: number; body: string }> {
  const auth = client ? ["--cert", client.certFile, "--key", client.keyFile] : [];
  return new Promise((resolve, reject) => {
    execFile("curl", ["-s", "--cacert", ca, ...auth, "--resolve", `${host}:${port}:127.0.0.1`, "-w", "\n%{http_code}", `https://${host}:${port}${path}`], {
      timeout: 10_000,
    }, (error, stdout) => {
      if (error && (error as NodeJS.ErrnoException).code === "ENOENT") return reject(new Error("curl is not installed (Debian package curl)"));
      const cut = stdout.lastIndexOf("\n");
      resolve({ status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) });
    });
  });
}

describe("client certificates: negotiateClientCertificate and validate-client-certificate", { timeout: 120_000 }, () => {
  let upstream: Upstream;
  let gw: GatewayProcess;
  let port: number;
  let config: string;
  const dir = tempDir();
  const ca = makeCa(dir);
  const otherCa = makeCa(dir, "other-ca");
  const clients = {
    alice: issue(dir, ca, "alice.test", "alice"),
    bob: issue(dir, ca, "bob.test", "bob"),
    mallory: issue(dir, otherCa, "alice.test", "mallory"),
  };

  before(async () => {
    upstream = await startUpstream();
    const secure = issue(dir, ca, "secure.test");
    const open = issue(dir, ca, "open.test");
    port = await freePort();
    config = `
apis:
  - name: alice-only
    path: /alice
    backend: up
    policies: { inbound: [ { policy: validate-client-certificate, with: { identities: [ { common-name: alice.test } ] } } ] }
  - name: trusted
    path: /trusted
    backend: up
    policies: { inbound: [ { policy: validate-client-certificate } ] }
backends:
  up: { urls: ["${upstream.url}"] }
hostnames:
  - { host: secure.test, cert: ${secure.certFile}, key: ${secure.keyFile}, negotiateClientCertificate: true, clientCa: ${ca.certFile} }
  - { host: open.test, cert: ${open.certFile}, key: ${open.keyFile} }
`;
    gw = await startGatewayProcess({ config, env: { PORTICO_NET_SERVER_HTTPS_PORT: String(port) }, ready: false });
    await gw.waitForOutput(/HTTPS certificates live/, 20_000);
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  it("lets a trusted certificate of an accepted identity through", async () => {
    const res = await curl(port, ca.certFile, "secure.test", "/alice/x", clients.alice);
    assert.equal(res.status, 200, res.body);
    assert.equal((await curl(port, ca.certFile, "secure.test", "/trusted/x", clients.bob)).status, 200);
  });

  it("answers 403 problem+json with the reason otherwise", async () => {
    const reason = async (path: string, client?: IssuedCertificate, host = "secure.test") => {
      const res = await curl(port, ca.certFile, host, path, client);
      assert.equal(res.status, 403, res.body);
      const body = JSON.parse(res.body);
      assert.equal(body.type, "urn:portico:problem:client-certificate-rejected");
      return body.detail as string;
    };
    assert.equal(await reason("/alice/x"), "The request came without a client certificate.");
    assert.equal(
      await reason("/alice/x", clients.mallory),
      "The client certificate is not trusted: it is not issued by a configured CA, nor by an intermediate the client sent that chains to one.",
    );
    assert.equal(await reason("/alice/x", clients.bob), "The client certificate matches none of the accepted identities.");
    // A host name that does not negotiate never shows a certificate to policies.
    assert.equal(await reason("/trusted/x", clients.alice, "open.test"), "The request came without a client certificate.");
  });

  it("stops and starts asking for client certificates with the configuration, without a restart", async () => {
    // On Bun this also swaps the listener between Bun.serve and node:tls on the same port.
    const change = async (text: string) => {
      const mark = gw.output().length;
      writeFileSync(gw.configFile, text);
      await gw.waitForOutput(/HTTPS certificates live/, 10_000, mark);
    };
    await change(config.replace(/, negotiateClientCertificate: true, clientCa: [^ }]+/, ""));
    const off = await curl(port, ca.certFile, "secure.test", "/trusted/x", clients.alice);
    assert.equal(off.status, 403, "a host name that no longer negotiates shows no certificate to policies");
    await change(config);
    assert.equal((await curl(port, ca.certFile, "secure.test", "/trusted/x", clients.alice)).status, 200);
    assert.equal(gw.child.exitCode, null, "the same process");
  });
});

describe("client certificates: chains through intermediates (root → intermediate → leaf)", { timeout: 120_000 }, () => {
  let upstream: Upstream;
  let gw: GatewayProcess;
  let port: number;
  const dir = tempDir();
  const root = makeCa(dir, "root");
  const intermediate = makeIntermediate(dir, root, "intermediate");
  const notCa = makeIntermediate(dir, root, "not-a-ca", { basicConstraints: "critical,CA:FALSE" });
  const leaf = issue(dir, intermediate, "alice.test", "alice");
  const clients = {
    /** The leaf and the intermediate, as a client that sends its chain. */
    withIntermediate: withChain(dir, leaf, [intermediate], "alice-chain"),
    /** The leaf alone. */
    leafOnly: leaf,
    /** A leaf for servers only (extended key usage serverAuth), with its intermediate. */
    serverOnly: withChain(
      dir,
      issue(dir, intermediate, "server.test", "server-only", [], { extendedKeyUsage: "serverAuth" }),
      [intermediate],
      "server-only-chain",
    ),
    /** A leaf under an intermediate that is not a CA (basicConstraints CA:FALSE), with it. */
    underNotCa: withChain(dir, issue(dir, notCa, "bob.test", "bob"), [notCa], "bob-chain"),
  };

  before(async () => {
    upstream = await startUpstream();
    const rootOnly = issue(dir, root, "root-only.test");
    const withBundle = issue(dir, root, "bundle.test");
    port = await freePort();
    const config = `
apis:
  - name: trusted
    path: /trusted
    backend: up
    policies: { inbound: [ { policy: validate-client-certificate } ] }
backends:
  up: { urls: ["${upstream.url}"] }
hostnames:
  - { host: root-only.test, cert: ${rootOnly.certFile}, key: ${rootOnly.keyFile}, negotiateClientCertificate: true, clientCa: ${root.certFile} }
  # clientCa: the root, the intermediate, and an intermediate that is not a CA (configured by mistake)
  - { host: bundle.test, cert: ${withBundle.certFile}, key: ${withBundle.keyFile}, negotiateClientCertificate: true, clientCa: ${
      bundle(dir, [root, intermediate, notCa], "bundle")
    } }
`;
    gw = await startGatewayProcess({ config, env: { PORTICO_NET_SERVER_HTTPS_PORT: String(port) }, ready: false });
    await gw.waitForOutput(/HTTPS certificates live/, 20_000);
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  /** The problem detail of a refusal, or "accepted". */
  async function outcome(host: string, client: IssuedCertificate): Promise<string> {
    const res = await curl(port, root.certFile, host, "/trusted/x", client);
    if (res.status === 200) return "accepted";
    assert.equal(res.status, 403, res.body);
    return JSON.parse(res.body).detail as string;
  }

  it("accepts a leaf whose intermediate the client sends, when clientCa holds only the root", async () => {
    assert.equal(await outcome("root-only.test", clients.withIntermediate), "accepted");
  });

  it("accepts a leaf sent alone when clientCa holds the intermediate too", async () => {
    assert.equal(await outcome("bundle.test", clients.leafOnly), "accepted");
  });

  it("refuses a leaf sent alone when clientCa holds only the root: no path", async () => {
    assert.equal(
      await outcome("root-only.test", clients.leafOnly),
      "The client certificate is not trusted: it is not issued by a configured CA, nor by an intermediate the client sent that chains to one.",
    );
  });

  it("refuses a leaf without clientAuth in its extended key usage, even issued by a configured intermediate", async () => {
    for (const host of ["root-only.test", "bundle.test"]) {
      assert.equal(
        await outcome(host, clients.serverOnly),
        "The client certificate is not trusted: its extended key usage does not include client authentication (clientAuth).",
        host,
      );
    }
  });

  it("refuses a leaf under an intermediate without CA:TRUE, sent by the client or configured in clientCa", async () => {
    for (const host of ["root-only.test", "bundle.test"]) {
      assert.equal(
        await outcome(host, clients.underNotCa),
        "The client certificate is not trusted: the issuer CN=Portico test not-a-ca is not a CA (basicConstraints CA:TRUE is missing).",
        host,
      );
    }
  });
});
