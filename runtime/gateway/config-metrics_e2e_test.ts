import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ControlPlaneProcess, createToken, eventually, startControlPlane, startFleetGateway } from "../../test/control-plane.ts";
import { type GatewayProcess, tempDir } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

/** The live configuration's revision, hash and source as a gateway's `/metrics` reports them, and the sync metrics. */
async function configMetrics(gw: GatewayProcess) {
  const text = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
  const revision = /^portico_config_revision\{hash="([0-9a-f]+)",source="([a-z-]+)"\} (\d+)$/m.exec(text);
  const number = (name: string) => {
    const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
    return match ? Number(match[1]) : undefined;
  };
  return {
    revision: revision ? { revision: Number(revision[3]), hash: revision[1], source: revision[2] } : undefined,
    syncAge: number("portico_config_sync_age_seconds"),
    syncFailures: number("portico_config_sync_failures_total"),
    text,
  };
}

// The acceptance of issue 14: a gateway restarted from its backup reports the control plane's
// revision (and hash), not a count of its own.
describe("the configuration revision in /metrics, with a real control plane", { timeout: 120_000 }, () => {
  let upstream: Upstream;
  let plane: ControlPlaneProcess;
  let token: string;
  const backupDir = tempDir();
  const gateways: GatewayProcess[] = [];

  const config = (n: number) => `
apis:
${Array.from({ length: n }, (_, i) => `  - { name: api-${i}, path: /api-${i}, backend: b }`).join("\n")}
backends:
  b: { urls: ["${upstream.url}"] }
gateways:
  edge-1: { apis: [${Array.from({ length: n }, (_, i) => `api-${i}`).join(", ")}] }
`;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      req.resume();
      res.end("ok");
    });
    plane = await startControlPlane({ files: { "apis.yaml": config(1) } });
    // Two changes: the control plane's revision is then 3, where a fresh gateway process counts 1.
    for (const n of [2, 3]) {
      const before = (await plane.status()).desired!.revision;
      plane.writeConfig("apis.yaml", config(n));
      await eventually(`the control plane takes change ${n}`, async () => (await plane.status()).desired!.revision > before);
    }
    token = await createToken(plane.dataDir, "edge-1");
  });

  after(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await plane?.stop();
    await upstream?.close();
  });

  it("reports the control plane's revision and hash of the view it applied, and a fresh sync", async () => {
    const gw = await startFleetGateway(plane, token, { backupDir });
    gateways.push(gw);
    await eventually("edge-1 is in sync", async () => (await plane.status()).gateways.find((g) => g.name === "edge-1")?.inSync === true);
    const desired = (await plane.status()).gateways.find((g) => g.name === "edge-1")!.desired!;
    assert.ok(desired.revision >= 3, `revision ${desired.revision}`);
    const metrics = await configMetrics(gw);
    assert.deepEqual(metrics.revision, { revision: desired.revision, hash: desired.hash, source: "control-plane" }, metrics.text);
    assert.ok(metrics.syncAge !== undefined && metrics.syncAge < 2, `sync age ${metrics.syncAge}`);
    assert.equal(metrics.syncFailures, 0);
    const ready = await (await fetch(`http://127.0.0.1:${gw.managementPort}/readyz`)).json();
    // /readyz and access lines name the control plane's revision too; the process's own count (1) is `local`.
    assert.equal(ready.revision, desired.revision);
    assert.equal(ready.local, 1, "the process's own count is 1: the metric is not it");
    await (await fetch(`${gw.url}/`)).body?.cancel();
    await gw.waitForOutput(new RegExp(`"level":"access".*"revision":${desired.revision}\\b`));
    await gw.stop();
  });

  it("restarted from its backup while the control plane is down, reports the control plane's revision and hash; the sync age grows until the control plane is back", async () => {
    const desired = (await plane.status()).gateways.find((g) => g.name === "edge-1")!.desired!;
    const { dataDir, port } = plane;
    await plane.stop();
    const gw = await startFleetGateway(plane, token, { backupDir });
    gateways.push(gw);
    assert.match(gw.output(), /started from the configuration backup/);
    const metrics = await configMetrics(gw);
    assert.deepEqual(metrics.revision, { revision: desired.revision, hash: desired.hash, source: "backup" }, metrics.text);
    await eventually("the failed pulls are counted and the sync age grows", async () => {
      const { syncFailures, syncAge } = await configMetrics(gw);
      return syncFailures! >= 1 && syncAge! >= 1;
    }, 10_000);

    plane = await startControlPlane({ dataDir, port });
    await eventually("the gateway is in step again: the sync age drops", async () => (await configMetrics(gw)).syncAge! < 0.5, 10_000);
    const back = await configMetrics(gw);
    assert.deepEqual(back.revision, { revision: desired.revision, hash: desired.hash, source: "backup" }, "unchanged view: still the backup's configuration");
  });
});
