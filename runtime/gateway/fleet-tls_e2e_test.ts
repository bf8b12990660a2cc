import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { issue, makeCa } from "../../test/certificates.ts";
import { type ControlPlaneProcess, createToken, eventually, startControlPlane, startFleetGateway } from "../../test/control-plane.ts";
import { type GatewayProcess, tempDir } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

describe("a control plane over HTTPS", { timeout: 60_000 }, () => {
  let upstream: Upstream;
  let plane: ControlPlaneProcess;
  const gateways: GatewayProcess[] = [];

  after(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await plane?.stop();
    await upstream?.close();
  });

  it("serves gateways that trust its CA (config.service.ca), and refuses the others at the handshake", async () => {
    upstream = await startUpstream((req, res) => {
      req.resume();
      res.end("ok");
    });
    const dir = tempDir();
    const ca = makeCa(dir);
    const cert = issue(dir, ca, "control-plane.test", "cp", ["IP:127.0.0.1"]);
    plane = await startControlPlane({
      tls: cert,
      files: { "c.yaml": `apis:\n  - { name: a, path: /a, backend: up }\nbackends:\n  up: { urls: ["${upstream.url}"] }\n` },
    });
    assert.match(plane.url, /^https:/);
    const token = await createToken(plane.dataDir, "edge");

    const trusting = await startFleetGateway(plane, token, { env: { PORTICO_CONFIG_SERVICE_CA: ca.certFile } });
    gateways.push(trusting);
    await eventually("the gateway serves the control plane's configuration", async () => (await (await fetch(`${trusting.url}/a/x`)).text()) === "ok");

    const distrusting = await startFleetGateway(plane, token, { ready: false });
    gateways.push(distrusting);
    assert.equal(await distrusting.exited(), 1);
    assert.match(
      distrusting.output(),
      /no configuration to serve: control plane https:\/\/127\.0\.0\.1:\d+ unreachable: .*(certificate|CERT|issuer|UnknownIssuer|VERIFY)/i,
    );
  });
});
