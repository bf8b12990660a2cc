import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type ControlPlaneProcess, createToken, eventually, startControlPlane, startFleetGateway } from "../test/control-plane.ts";
import { type GatewayProcess, runCli, tempDir } from "../test/harness.ts";
import { startUpstream, type Upstream } from "../test/upstream.ts";
import { hashSubscriptionKey } from "./subscriptions.ts";

const TYPE = "urn:portico:problem:";
const HEADER = "ocp-apim-subscription-key";
/** A key written in the desired YAML (an all-apis subscription), hashed by the control plane before it goes into a view. */
const YAML_KEY = "everyone-yaml-key-00001";

/** `portico subscription ...`: stdout's `slot: KEY` lines as a map, stdout (where keys are printed, once) and stderr (notes, never a key). */
async function subscription(dataDir: string, ...args: string[]): Promise<{ keys: Record<string, string>; stdout: string; stderr: string }> {
  const result = await runCli(["subscription", ...args, "--data", dataDir]);
  assert.equal(result.code, 0, result.stderr);
  const keys: Record<string, string> = {};
  for (const line of result.stdout.trim().split("\n")) {
    const match = /^(primary|secondary): (\S+)$/.exec(line);
    if (match) keys[match[1]!] = match[2]!;
  }
  return { keys, stdout: result.stdout, stderr: result.stderr };
}

describe("subscriptions through the control plane", { timeout: 120_000 }, () => {
  let upstream: Upstream;
  let plane: ControlPlaneProcess;
  let edge1: GatewayProcess;
  let edge2: GatewayProcess;
  let token1: string;
  let token2: string;
  const backup1 = tempDir();
  const gateways: GatewayProcess[] = [];
  /** Every key this test ever saw, and everything that must never hold one. */
  const keys: string[] = [YAML_KEY];
  const outputs: string[] = [];

  const config = (goldState = "active") => `
apis:
  - { name: orders, path: /orders, backend: up, subscriptionRequired: true }
  - { name: users, path: /users, backend: up, subscriptionRequired: true }
backends:
  up: { urls: ["${upstream.url}"] }
products:
  - { name: shop, apis: [orders] }
subscriptions:
  - { name: gold, scope: "api:orders", state: ${goldState} }
  - { name: everyone, scope: all-apis, primaryKey: ${YAML_KEY} }
  - { name: shoppers, scope: "product:shop" }
gateways:
  edge-1: { apis: [orders] }
  edge-2: { apis: [users] }
`;

  /** The status a gateway answers a call with, and its problem type when it refused it. */
  async function call(gw: GatewayProcess, path: string, key?: string): Promise<string> {
    const res = await fetch(gw.url + path, { headers: key === undefined ? {} : { [HEADER]: key } });
    const text = await res.text();
    outputs.push(text);
    if (res.status === 200) return "200";
    return `${res.status} ${JSON.parse(text).type.slice(TYPE.length)}`;
  }

  /** A gateway's view, pulled with its token as a gateway pulls it. */
  async function viewOf(gateway: string, token: string): Promise<{ body: string; revision: number; hash: string }> {
    const res = await fetch(`${plane.url}/v1/gateways/${gateway}/configuration`, { headers: { authorization: `GatewayKey ${token}` } });
    assert.equal(res.status, 200);
    const body = await res.text();
    outputs.push(body);
    return { body, revision: Number(res.headers.get("portico-revision")), hash: res.headers.get("etag")!.replace(/"/g, "") };
  }

  /** Waits until the gateway's heartbeat says it applied this view hash (that is, one sync brought it); returns the ms since `since`. */
  async function applied(gateway: string, hash: string, since = Date.now()): Promise<number> {
    await eventually(
      `${gateway} applies view ${hash.slice(0, 12)}`,
      async () => (await plane.status()).gateways.find((g) => g.name === gateway)?.applied?.hash === hash,
      10_000,
    );
    return Date.now() - since;
  }

  const salt = () => JSON.parse(readFileSync(join(plane.dataDir, "state", "subscriptions.json"), "utf8")).salt as string;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      req.resume();
      res.end("ok");
    });
    plane = await startControlPlane({ files: { "fleet.yaml": config() } });
    token1 = await createToken(plane.dataDir, "edge-1");
    token2 = await createToken(plane.dataDir, "edge-2");
    edge1 = await startFleetGateway(plane, token1, { backupDir: backup1 });
    edge2 = await startFleetGateway(plane, token2);
    gateways.push(edge1, edge2);
  });

  after(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await plane?.stop();
    await upstream?.close();
  });

  it("sends a subscription made with the CLI, as hashes, to the gateways its scope reaches, which then accept its keys", async () => {
    const before = await viewOf("edge-1", token1);
    const created = await subscription(plane.dataDir, "create", "--name", "gold");
    outputs.push(created.stderr);
    keys.push(created.keys.primary!, created.keys.secondary!);
    assert.match(created.keys.primary!, /^[A-Za-z0-9_-]{43}$/);
    // The control plane sees the new keys at the next pull: the view and its revision have moved.
    const view = await viewOf("edge-1", token1);
    assert.ok(view.revision > before.revision, `revision ${view.revision} after ${before.revision}`);
    const sent = JSON.parse(view.body);
    assert.deepEqual(sent.subscriptions, [
      {
        name: "gold",
        scope: "api:orders",
        state: "active",
        primaryKey: { hash: hashSubscriptionKey(created.keys.primary!, salt()) },
        secondaryKey: { hash: hashSubscriptionKey(created.keys.secondary!, salt()) },
      },
      { name: "everyone", scope: "all-apis", primaryKey: { hash: hashSubscriptionKey(YAML_KEY, salt()) } },
      { name: "shoppers", scope: "product:shop" },
    ]);
    assert.deepEqual(sent.products, [{ name: "shop", apis: ["orders"] }]);
    const other = JSON.parse((await viewOf("edge-2", token2)).body);
    assert.deepEqual(other.subscriptions.map((s: { name: string }) => s.name), ["everyone"], "edge-2 serves no API gold or the shop product reach");
    assert.equal(other.products, undefined);

    await applied("edge-1", view.hash);
    assert.equal(await call(edge1, "/orders/x", created.keys.primary), "200");
    assert.equal(await call(edge1, "/orders/x", created.keys.secondary), "200");
    assert.equal((await fetch(`${edge1.url}/orders/x?subscription-key=${created.keys.primary}`)).status, 200, "a key in the query");
    assert.equal(await call(edge1, "/orders/x", YAML_KEY), "200", "a key written in the YAML, sent as its hash");
    assert.equal(await call(edge1, "/orders/x"), "401 subscription-key-missing");
    assert.equal(await call(edge1, "/orders/x", "not-a-key-of-anyone-000"), "401 subscription-key-invalid");
    assert.equal(await call(edge2, "/users/x", created.keys.primary), "401 subscription-key-invalid", "edge-2 was never sent gold");
    assert.equal(await call(edge2, "/users/x", YAML_KEY), "200");
  });

  it("refuses a regenerated key after one sync and accepts the new one; the other key and the other gateways are untouched", async () => {
    const [old, secondary] = keys.slice(1) as [string, string];
    const before1 = await viewOf("edge-1", token1);
    const before2 = await viewOf("edge-2", token2);
    const regenerated = await subscription(plane.dataDir, "regenerate", "--name", "gold", "--key", "primary");
    const returned = Date.now();
    outputs.push(regenerated.stderr);
    const fresh = regenerated.keys.primary!;
    keys.push(fresh);
    const view = await viewOf("edge-1", token1);
    assert.ok(view.revision > before1.revision);
    assert.equal(JSON.parse(view.body).subscriptions[0].primaryKey.hash, hashSubscriptionKey(fresh, salt()));
    assert.deepEqual(await viewOf("edge-2", token2), before2, "edge-2's view did not change, so it downloads nothing");
    const ms = await applied("edge-1", view.hash, returned);
    assert.equal(await call(edge1, "/orders/x", old), "401 subscription-key-invalid");
    assert.equal(await call(edge1, "/orders/x", fresh), "200");
    assert.equal(await call(edge1, "/orders/x", secondary), "200");
    console.log(`regenerated key applied by edge-1 ${ms} ms after the CLI returned (sync interval 100 ms)`);
  });

  it("starts from its backup with the same keys while the control plane is down, and the backup holds no key", async () => {
    const [old, , fresh] = keys.slice(1) as [string, string, string];
    const backup = readFileSync(join(backup1, "configuration.backup"), "utf8");
    assert.match(backup, /hmac-sha256:/);
    for (const key of keys) assert.ok(!backup.includes(key), "the backup holds hashes, not keys");
    const { dataDir, port } = plane;
    await plane.stop();
    await edge1.stop();
    edge1 = await startFleetGateway(plane, token1, { backupDir: backup1 });
    gateways.push(edge1);
    assert.match(edge1.output(), /started from the configuration backup/);
    assert.equal(await call(edge1, "/orders/x", fresh), "200");
    assert.equal(await call(edge1, "/orders/x", old), "401 subscription-key-invalid");
    assert.equal(await call(edge1, "/orders/x"), "401 subscription-key-missing");
    plane = await startControlPlane({ dataDir, port });
    await eventually("edge-1 syncs again", async () => (await plane.status()).gateways.find((g) => g.name === "edge-1")?.inSync === true, 10_000);
  });

  it("refuses a subscription suspended, then cancelled, in the YAML with 403 after one sync", async () => {
    const fresh = keys[3]!;
    for (const [state, kind] of [["suspended", "subscription-suspended"], ["cancelled", "subscription-cancelled"]] as const) {
      const mark = plane.output().length;
      plane.writeConfig("fleet.yaml", config(state));
      await plane.waitForOutput(/desired configuration accepted/, 5_000, mark);
      const view = await viewOf("edge-1", token1);
      assert.equal(JSON.parse(view.body).subscriptions[0].state, state);
      await applied("edge-1", view.hash);
      assert.equal(await call(edge1, "/orders/x", fresh), `403 ${kind}`);
      assert.equal(await call(edge1, "/orders/x", YAML_KEY), "200", "other subscriptions keep passing");
    }
  });

  it("lists subscriptions and where their keys are, never a key; and no key is in any log, heartbeat, admin answer or problem", async () => {
    const listed = await subscription(plane.dataDir, "list");
    assert.match(listed.stdout, /^gold\s+cancelled\s+stored\s+stored\s*$/m);
    assert.match(listed.stdout, /^everyone\s+active\s+configuration\s+-\s*$/m);
    assert.match(listed.stdout, /^shoppers\s+active\s+-\s+-\s+\(no keys: passes no request\)$/m);
    assert.match(plane.output(), /"msg":"subscription has no keys, so it can pass no request[^"]*","subscription":"shoppers"/);
    const admin = (path: string) =>
      fetch(`${plane.url}/v1/admin/${path}`, {
        headers: { authorization: `Bearer ${readFileSync(join(plane.dataDir, "state", "admin-token"), "utf8").trim()}` },
      })
        .then((r) => r.text());
    const everything = [
      ...outputs,
      listed.stdout,
      listed.stderr,
      plane.output(),
      ...gateways.map((g) => g.output()),
      await admin("status"),
      await admin("gateways/edge-1"),
      await (await fetch(`${plane.url}/`)).text(),
    ].join("\n");
    assert.match(everything, /"status":40[13]/, "the gateways' access logs are in");
    for (const key of keys) assert.ok(!everything.includes(key), `no output holds a key (${key.slice(0, 4)}…)`);
  });
});
