import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { issue, makeCa, type IssuedCertificate } from "../../test/certificates.ts";
import { freePort, startGatewayProcess, tempDir, type GatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";
import { loadAdapter } from "../server/detect.ts";

/** curl over HTTPS with an optional client certificate; the status and the body. */
function curl(port: number, ca: string, host: string, path: string, client?: IssuedCertificate): Promise<{ status: number; body: string }> {
  const auth = client ? ["--cert", client.certFile, "--key", client.keyFile] : [];
  return new Promise((resolve, reject) => {
    execFile("curl", ["-s", "--cacert", ca, ...auth, "--resolve", `${host}:${port}:127.0.0.1`, "-w", "\n%{http_code}", `https://${host}:${port}${path}`], { timeout: 10_000 }, (error, stdout) => {
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
  let refused: string | undefined;
  const dir = tempDir();
  const ca = makeCa(dir);
  const otherCa = makeCa(dir, "other-ca");
  const clients = { alice: issue(dir, ca, "alice.test", "alice"), bob: issue(dir, ca, "bob.test", "bob"), mallory: issue(dir, otherCa, "alice.test", "mallory") };

  before(async () => {
    upstream = await startUpstream();
    const secure = issue(dir, ca, "secure.test");
    const open = issue(dir, ca, "open.test");
    port = await freePort();
    const config = `
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
    const outcome = await gw.waitForOutput(/HTTPS certificates live/, 20_000).then(
      () => "live",
      (error: Error) => {
        if (gw.child.exitCode === null && gw.child.signalCode === null) throw error;
        return "exited";
      },
    );
    if (outcome === "exited") refused = gw.output();
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  it("starts only where the runtime can hand client certificates to the gateway", async () => {
    const caps = (await loadAdapter()).capabilities.tls;
    if (caps.clientCertificates) assert.equal(refused, undefined, refused);
    else {
      assert.ok(refused, "must not start with a setting it cannot honour");
      assert.match(refused, /hostnames\[0\]\.negotiateClientCertificate: the HTTPS listener on bun .* cannot hand client certificates to the gateway \(Bun\.serve does not expose the peer certificate, oven-sh\/bun#14097\)/);
    }
  });

  /** On a runtime that cannot read client certificates, the configuration was refused at start (checked above). */
  async function refusedHere(): Promise<boolean> {
    const caps = (await loadAdapter()).capabilities.tls;
    assert.equal(refused !== undefined, !caps.clientCertificates);
    return refused !== undefined;
  }

  it("lets a trusted certificate of an accepted identity through", async () => {
    if (await refusedHere()) return;
    const res = await curl(port, ca.certFile, "secure.test", "/alice/x", clients.alice);
    assert.equal(res.status, 200, res.body);
    assert.equal((await curl(port, ca.certFile, "secure.test", "/trusted/x", clients.bob)).status, 200);
  });

  it("answers 403 problem+json with the reason otherwise", async () => {
    if (await refusedHere()) return;
    const reason = async (path: string, client?: IssuedCertificate, host = "secure.test") => {
      const res = await curl(port, ca.certFile, host, path, client);
      assert.equal(res.status, 403, res.body);
      const body = JSON.parse(res.body);
      assert.equal(body.type, "urn:portico:problem:client-certificate-rejected");
      return body.detail as string;
    };
    assert.equal(await reason("/alice/x"), "The request came without a client certificate.");
    assert.equal(await reason("/alice/x", clients.mallory), "The client certificate is not issued by a trusted certificate authority.");
    assert.equal(await reason("/alice/x", clients.bob), "The client certificate matches none of the accepted identities.");
    // A host name that does not negotiate never shows a certificate to policies.
    assert.equal(await reason("/trusted/x", clients.alice, "open.test"), "The request came without a client certificate.");
  });
});
