import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createToken as signToken } from "../../control-plane/tokens.ts";
import { BACKUP_START_WAIT_MS } from "./sync.ts";
import { type ControlPlaneProcess, createToken, eventually, regenerateKey, startControlPlane, startFleetGateway } from "../../test/control-plane.ts";
import { type GatewayProcess, ROOT, runCli, tempDir } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

/** A configuration pull as the relay saw it: which gateway, when it arrived, and what the control plane answered. */
interface Pull {
  readonly gateway: string;
  /** `Date.now()` when the request reached the relay, before it was passed on. */
  readonly at: number;
  readonly status: number;
  /** The ETag answered (the view's sha256), without quotes. */
  readonly etag: string | undefined;
}

/** A relay between gateways and the control plane that notes their configuration pulls. */
interface PullRelay {
  readonly url: string;
  readonly pulls: Pull[];
  close(): Promise<void>;
}

/**
 * Passes every request on to the control plane at `target()` and its answer back unchanged, noting
 * each configuration pull, so a test can tell which pull brought a change. While the control plane
 * is down it closes the connection, as an unreachable control plane would.
 */
async function startPullRelay(target: () => string): Promise<PullRelay> {
  const pulls: Pull[] = [];
  const relay = await startUpstream((req, res) => {
    const at = Date.now();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const headers: Record<string, string> = {};
      for (const name of ["authorization", "if-none-match", "content-type"]) if (typeof req.headers[name] === "string") headers[name] = req.headers[name];
      let answer: Response;
      try {
        answer = await fetch(target() + req.url, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined, redirect: "manual" });
      } catch {
        req.socket.destroy();
        return;
      }
      const body = Buffer.from(await answer.arrayBuffer());
      const etag = answer.headers.get("etag")?.replace(/"/g, "");
      const pulled = /^\/v1\/gateways\/([^/]+)\/configuration$/.exec(req.url!);
      if (pulled) pulls.push({ gateway: decodeURIComponent(pulled[1]!), at, status: answer.status, etag });
      const passed: Record<string, string> = {};
      for (const name of ["etag", "portico-revision", "content-type", "www-authenticate"]) {
        const value = answer.headers.get(name);
        if (value !== null) passed[name] = value;
      }
      res.writeHead(answer.status, passed).end(body);
    });
  });
  return { url: relay.url, pulls, close: () => relay.close() };
}

/** The text a backend answered with, or the status when the gateway answered itself. */
async function get(gw: GatewayProcess, path: string): Promise<string> {
  const res = await fetch(gw.url + path);
  const body = await res.text();
  return res.status === 200 ? body : String(res.status);
}

describe("control plane and gateways", { timeout: 120_000 }, () => {
  let a: Upstream;
  let b: Upstream;
  let plane: ControlPlaneProcess;
  let edge1: GatewayProcess;
  let edge2: GatewayProcess;
  let token1: string;
  let token2: string;
  let relay: PullRelay;
  const backup1 = tempDir();
  const gateways: GatewayProcess[] = [];

  const config = (extra = "", shared = "", edge1Only = "") => `
apis:
  - { name: a-api, path: /a, backend: a }
  - { name: b-api, path: /b, backend: b }
${extra}
backends:
  a: { urls: ["${a.url}"] }
  b: { urls: ["${b.url}"] }
gateways:
  edge-1: { apis: [a-api${shared}${edge1Only}] }
  edge-2: { apis: [b-api${shared}] }
`;

  before(async () => {
    a = await startUpstream((req, res) => {
      req.resume();
      res.end("a");
    });
    b = await startUpstream((req, res) => {
      req.resume();
      res.end("b");
    });
    plane = await startControlPlane({ files: { "apis.yaml": config() } });
    // edge-1 and edge-2 reach the control plane through the relay (which follows it across restarts).
    relay = await startPullRelay(() => plane.url);
    token1 = await createToken(plane.dataDir, "edge-1");
    edge1 = await startFleetGateway(relay, token1, { backupDir: backup1 });
    token2 = await createToken(plane.dataDir, "edge-2");
    edge2 = await startFleetGateway(relay, token2);
    gateways.push(edge1, edge2);
  });

  after(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await relay?.close();
    await plane?.stop();
    await a?.close();
    await b?.close();
  });

  it("gives each gateway its own view, and each takes a change at its first pull after the control plane accepts it", async () => {
    assert.equal(await get(edge1, "/a/x"), "a");
    assert.equal(await get(edge1, "/b/x"), "404", "edge-1 is not assigned b-api");
    assert.equal(await get(edge2, "/b/x"), "b");
    assert.equal(await get(edge2, "/a/x"), "404", "edge-2 is not assigned a-api");

    const mark = plane.output().length;
    plane.writeConfig("apis.yaml", config("  - { name: shared, path: /shared, backend: a }", ", shared"));
    await plane.waitForOutput(/desired configuration accepted/, 5_000, mark);
    const status = await plane.status();
    // The control plane's own time of acceptance (ms). It is taken in the same synchronous step that
    // cuts the new views, so any pull the control plane handles after that time gets the new view.
    const accepted = Date.parse((status.desired as { at?: string }).at!);
    for (const gw of [edge1, edge2]) await eventually(`${gw.url} serves /shared`, async () => (await get(gw, "/shared/x")) === "a", 5_000);
    for (const name of ["edge-1", "edge-2"]) {
      const view = status.gateways.find((g) => g.name === name)!.desired!;
      const pulls = relay.pulls.filter((p) => p.gateway === name);
      // A pull that reached the relay more than 1 ms after the acceptance (both clocks in whole ms)
      // reached the control plane after it: the change must have come with that pull or an earlier
      // one (a pull on its way during the acceptance may bring it too).
      const next = pulls.findIndex((p) => p.at > accepted + 1);
      const until = next < 0 ? pulls.length : next + 1;
      const downloads = pulls.filter((p) => p.status === 200 && p.etag === view.hash);
      const around = pulls.slice(Math.max(0, until - 3), until + 1).map((p) => `${p.at - accepted} ms: ${p.status}`);
      assert.equal(downloads.length, 1, `${name} downloaded revision ${view.revision} once, and serves what that pull brought`);
      assert.ok(
        pulls.indexOf(downloads[0]!) < until,
        `${name} did not get revision ${view.revision} at its first pull after the acceptance (pulls around it: ${around.join(", ")})`,
      );
      const ms = downloads[0]!.at - accepted;
      console.log(
        `${name} got the change from a pull that reached the relay ${Math.abs(ms)} ms ${
          ms < 0 ? "before" : "after"
        } the control plane accepted it (sync interval 100 ms)`,
      );
    }

    await eventually("both gateways report the new revision in their heartbeat", async () => {
      const status = await plane.status();
      return status.gateways.filter((g) => g.name.startsWith("edge-")).every((g) => g.online && g.inSync && g.applied?.revision === status.desired?.revision);
    });
  });

  it("refuses bad tokens with 401 and the reason", async () => {
    const keys = JSON.parse(readFileSync(join(plane.dataDir, "state", "keys.json"), "utf8"));
    const primary = { secret: Buffer.from(keys.gateways["edge-1"].primary.secret, "base64"), generation: keys.gateways["edge-1"].primary.generation };
    const tokenFor = (gateway: string, expires: number) => signToken({ gateway, key: "primary", generation: primary.generation, expires }, primary);
    const reasonFor = async (path: string, authorization?: string) => {
      const res = await fetch(`${plane.url}/v1/gateways/${path}/configuration`, { headers: authorization ? { authorization } : {} });
      const body = await res.json();
      assert.equal(res.status, 401, JSON.stringify(body));
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      return body.reason;
    };
    const tampered = token1.slice(0, -2) + (token1.endsWith("AA") ? "BB" : "AA");
    assert.equal(await reasonFor("edge-1"), "missing");
    assert.equal(await reasonFor("edge-1", "GatewayKey not-a-token"), "malformed");
    // A name without keys is answered like a forged token: the 401 does not tell which names exist.
    assert.equal(await reasonFor("ghost", `GatewayKey ${tokenFor("ghost", Date.now() + 60_000)}`), "bad signature");
    assert.equal(await reasonFor("edge-1", `GatewayKey ${tampered}`), "bad signature");
    assert.equal(await reasonFor("edge-1", `GatewayKey ${tokenFor("edge-1", Date.now() - 10_000)}`), "expired");
    assert.equal(await reasonFor("edge-2", `GatewayKey ${token1}`), "wrong gateway");
    // A few seconds of clock skew are tolerated, never more.
    const justExpired = await fetch(`${plane.url}/v1/gateways/edge-1/configuration`, {
      headers: { authorization: `GatewayKey ${tokenFor("edge-1", Date.now() - 2_000)}` },
    });
    assert.equal(justExpired.status, 200);
    await justExpired.body?.cancel();
    // The bare token works as well as the `GatewayKey` form.
    const bare = await fetch(`${plane.url}/v1/gateways/edge-1/configuration`, { headers: { authorization: token1 } });
    assert.equal(bare.status, 200);
    await bare.body?.cancel();

    const tooLong = await runCli(["token", "create", "--gateway", "edge-1", "--expires", "31d", "--data", plane.dataDir]);
    assert.equal(tooLong.code, 1);
    assert.match(tooLong.stderr, /at most 30 days \(got "31d"\)/);
  });

  it("refuses every token of a regenerated key; a running gateway keeps serving and says why", async () => {
    const secondary = await createToken(plane.dataDir, "edge-2", ["--key", "secondary"]);
    const gw = await startFleetGateway(plane, secondary);
    gateways.push(gw);
    assert.equal(await get(gw, "/b/x"), "b");
    const mark = gw.output().length;
    await regenerateKey(plane.dataDir, "edge-2", "secondary");
    await gw.waitForOutput(/configuration sync failed.*key rotated/, 5_000, mark);
    assert.equal(await get(gw, "/b/x"), "b", "the last good configuration keeps serving");
    const res = await fetch(`${plane.url}/v1/gateways/edge-2/configuration`, { headers: { authorization: secondary } });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).reason, "key rotated");
    const status = await plane.status();
    assert.equal(status.gateways.find((g) => g.name === "edge-2")?.lastAuthFailure?.reason, "key rotated");
    const metrics = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
    assert.match(metrics, /portico_config_sync_failures_total [1-9]/);
    // The primary key is untouched: edge-2's first gateway still syncs.
    const fresh = await fetch(`${plane.url}/v1/gateways/edge-2/configuration`, {
      headers: { authorization: await createToken(plane.dataDir, "edge-2", ["--key", "secondary"]) },
    });
    assert.equal(fresh.status, 200);
    await fresh.body?.cancel();
    await gw.stop();
  });

  it("warns from 7 days before its token expires: log, metric and heartbeat", async () => {
    // A gateway of its own name (not in the gateways: section, so it gets no APIs): its heartbeat is the only one for that name.
    const gw = await startFleetGateway(plane, await createToken(plane.dataDir, "edge-3", ["--expires", "3d"]));
    gateways.push(gw);
    await gw.waitForOutput(/"level":"warn","msg":"the gateway token expires soon.*"days":3\b/, 5_000);
    const metrics = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
    const seconds = Number(/portico_gateway_token_expiry_seconds (\d+)/.exec(metrics)?.[1]);
    assert.ok(seconds > 2.9 * 86_400 && seconds <= 3 * 86_400, metrics);
    await eventually("the heartbeat carries the expiry", async () => {
      const expires = (await plane.status()).gateways.find((g) => g.name === "edge-3")?.tokenExpires ?? null;
      return expires !== null && Math.abs(Date.parse(expires) - Date.now() - 3 * 86_400_000) < 60_000;
    });
    await gw.stop();
  });

  it("rejects an invalid desired configuration with every problem, and gateways keep the last good one", async () => {
    const before = (await plane.status()).desired!;
    plane.writeConfig("broken.yaml", "apis:\n  - { name: c, path: /c, backend: nowhere }\n  - { name: a-api, path: /c2, backend: a }\n");
    await eventually("the control plane reports the rejection", async () => (await plane.status()).rejected !== null);
    const status = await plane.status();
    assert.deepEqual(status.desired, { ...before, at: (status.desired as { at?: string }).at } as typeof before);
    assert.equal(status.rejected!.problems.length, 2, status.rejected!.problems.join("\n"));
    assert.match(status.rejected!.problems[0]!, /broken\.yaml:2:\d+: apis\[\d+\]\.backend: unknown backend "nowhere"/);
    assert.match(status.rejected!.problems[1]!, /broken\.yaml:3:\d+: apis\[\d+\]\.name: duplicate API name "a-api"/);
    assert.match(plane.output(), /desired configuration rejected/);
    assert.equal(await get(edge1, "/a/x"), "a");
    plane.writeConfig("broken.yaml", "# fixed\n");
    await eventually("the rejection clears", async () => (await plane.status()).rejected === null);
  });

  it("never lets a configuration that fails to compile go live, and reports it per gateway", async () => {
    copyFileSync(join(ROOT, "policies-wasm/dist/fixtures/abi-v2.wasm"), join(plane.dataDir, "config", "future.wasm"));
    const extra = `  - { name: future-api, path: /future, backend: a, policies: { inbound: [ { policy: future } ] } }
policies:
  future: { module: ./future.wasm }`;
    const mark = edge1.output().length;
    plane.writeConfig("apis.yaml", config(extra, "", ", future-api"));
    await edge1.waitForOutput(/configuration rejected; the last good configuration keeps serving/, 5_000, mark);
    assert.match(edge1.output().slice(mark), /ABI/);
    assert.equal(await get(edge1, "/future/x"), "404", "the refused configuration is not live");
    assert.equal(await get(edge1, "/a/x"), "a");
    await eventually("the admin API shows the failure for edge-1, with revision and hash", async () => {
      const entry = (await plane.status()).gateways.find((g) => g.name === "edge-1")!;
      return !entry.inSync && entry.lastError?.revision === entry.desired?.revision && entry.lastError?.hash === entry.desired?.hash &&
        /ABI/.test(entry.lastError?.problems?.[0] ?? "");
    });
    await eventually("edge-2, whose view does not use the module, applies its own view", async () => {
      const entry = (await plane.status()).gateways.find((g) => g.name === "edge-2")!;
      return entry.inSync && entry.lastError === null;
    });
    // Each gateway can download only the modules its own view uses.
    const digest = createHash("sha256").update(readFileSync(join(plane.dataDir, "config", "future.wasm"))).digest("hex");
    const download = (gateway: string, token: string) =>
      fetch(`${plane.url}/v1/gateways/${gateway}/modules/${digest}`, { headers: { authorization: `GatewayKey ${token}` } });
    const own = await download("edge-1", token1);
    assert.equal(own.status, 200);
    assert.equal(createHash("sha256").update(new Uint8Array(await own.arrayBuffer())).digest("hex"), digest);
    const other = await download("edge-2", token2);
    assert.equal(other.status, 404, "edge-2's view does not use the module");
    assert.match((await other.json()).detail, /gateway "edge-2"'s view uses no module with sha256/);
  });

  it("keeps serving while the control plane is down, and applies what changed once it is back", async () => {
    plane.writeConfig("apis.yaml", config("  - { name: shared, path: /shared, backend: a }", ", shared"));
    await eventually("edge-1 is in sync again", async () => (await plane.status()).gateways.find((g) => g.name === "edge-1")!.inSync);
    const { dataDir, port } = plane;
    const revisionBefore = (await plane.status()).desired!.revision;
    await plane.stop();
    const mark = edge1.output().length;
    await edge1.waitForOutput(/configuration sync failed/, 5_000, mark);
    assert.equal(await get(edge1, "/a/x"), "a");
    assert.equal(await get(edge1, "/shared/x"), "a");
    // Changed while the control plane is away; applied once it is back.
    writeFileSync(join(dataDir, "config", "apis.yaml"), config("  - { name: later, path: /later, backend: b }", ", later"));
    plane = await startControlPlane({ dataDir, port });
    assert.equal((await plane.status()).desired!.revision, revisionBefore + 1, "revision numbers survive a control plane restart");
    await eventually("edge-1 serves what changed while the control plane was down", async () => (await get(edge1, "/later/x")) === "b", 10_000);
    assert.match(edge1.output().slice(mark), /control plane reachable again/);
  });

  it("restarts from its backup while the control plane is down, and refuses a corrupt backup", async () => {
    const { dataDir, port } = plane;
    await plane.stop();
    await edge1.stop();
    assert.ok(existsSync(join(backup1, "configuration.backup")));
    const started = Date.now();
    const restarted = await startFleetGateway(plane, token1, { backupDir: backup1 });
    gateways.push(restarted);
    assert.equal(await get(restarted, "/later/x"), "b");
    const servedAfter = Date.now() - started;
    assert.match(restarted.output(), /started from the configuration backup/);
    const ready = await fetch(`http://127.0.0.1:${restarted.managementPort}/readyz`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
    await restarted.stop();

    const damaged = tempDir();
    const bytes = readFileSync(join(backup1, "configuration.backup"));
    bytes[bytes.length - 10] ^= 1;
    writeFileSync(join(damaged, "configuration.backup"), bytes);
    const refused = await startFleetGateway(plane, token1, { backupDir: damaged, ready: false });
    assert.equal(await refused.exited(), 1);
    assert.match(refused.output(), /no configuration to serve: control plane .* unreachable: .*, and the backup .* fails its checksum/);

    const nothing = await startFleetGateway(plane, token1, { backupDir: tempDir(), ready: false });
    assert.equal(await nothing.exited(), 1);
    const lines = nothing.output().trim().split("\n");
    assert.match(lines.at(-1)!, /^portico: no configuration to serve: control plane .* unreachable: .*, and there is no backup at /);

    plane = await startControlPlane({ dataDir, port });
    console.log(`restart from backup: first request served ${servedAfter} ms after spawning the gateway process`);
  });

  it("restarts from its backup after the start-up wait when the control plane accepts connections and never answers", async () => {
    // What a discarding firewall or a dead route looks like from the gateway: nothing refuses, nothing answers.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const started = Date.now();
      // The default sync interval (10 s) gives each exchange with the control plane a 10 s limit.
      const restarted = await startFleetGateway({ url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` }, token1, {
        backupDir: backup1,
        env: { PORTICO_CONFIG_SYNC_INTERVAL: "10s" },
      });
      gateways.push(restarted);
      assert.equal(await get(restarted, "/later/x"), "b");
      const servedAfter = Date.now() - started;
      assert.match(restarted.output(), new RegExp(`started from the configuration backup.*unreachable: no answer within ${BACKUP_START_WAIT_MS} ms`));
      assert.ok(servedAfter < 10_000, `first request served ${servedAfter} ms after spawning: the start waited out the 10 s exchange limit`);
      assert.ok(sockets.size > 0, "the gateway did connect to the silent control plane");
      await restarted.stop();
      console.log(`restart from backup, control plane silent: first request served ${servedAfter} ms after spawning the gateway process`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
