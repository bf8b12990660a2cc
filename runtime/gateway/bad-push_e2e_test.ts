import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createToken } from "../../control-plane/tokens.ts";
import { eventually, startFleetGateway } from "../../test/control-plane.ts";
import { ROOT, type GatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");

/**
 * A control plane that pushes whatever the test tells it to, including what a correct control plane
 * never would: the gateway must defend itself against every kind of bad push.
 */
class ScriptedControlPlane {
  body = "{}";
  revision = 1;
  /** ETag override, to simulate a download damaged on the way. */
  etag: string | undefined;
  readonly modules = new Map<string, Uint8Array>();
  heartbeat: { applied?: { revision: number; hash: string } | null; lastError?: { message: string; revision?: number; hash?: string; problems?: string[] } | null } = {};
  /** Full (200) downloads per body hash. */
  readonly downloads = new Map<string, number>();
  #server: Server | undefined;
  url = "";

  push(config: unknown, revision: number): string {
    this.body = JSON.stringify(config);
    this.revision = revision;
    this.etag = undefined;
    return sha256(this.body);
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const path = req.url!;
        if (path.endsWith("/heartbeat")) {
          this.heartbeat = JSON.parse(Buffer.concat(chunks).toString());
          res.writeHead(204).end();
        } else if (path.endsWith("/configuration")) {
          const hash = sha256(this.body);
          const tag = `"${this.etag ?? hash}"`;
          if (req.headers["if-none-match"] === tag) return void res.writeHead(304, { etag: tag }).end();
          this.downloads.set(hash, (this.downloads.get(hash) ?? 0) + 1);
          res.writeHead(200, { etag: tag, "portico-revision": String(this.revision), "content-type": "application/json" }).end(this.body);
        } else {
          const module = this.modules.get(path.split("/").at(-1)!);
          if (module) res.writeHead(200, { "content-type": "application/wasm" }).end(module);
          else res.writeHead(404).end();
        }
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.#server!.address() as { port: number }).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server?.close(() => resolve());
      this.#server?.closeAllConnections();
    });
  }
}

describe("bad pushes never go live", { timeout: 60_000 }, () => {
  let upstream: Upstream;
  let plane: ScriptedControlPlane;
  let gw: GatewayProcess;
  const counter = new Uint8Array(readFileSync(join(ROOT, "policies-wasm/dist/fixtures/counter.wasm")));
  const good = () => ({ apis: [{ name: "a", path: "/a", backend: "a" }], backends: { a: { urls: [upstream.url] } } });
  const withModule = (digest: string) => ({
    apis: [{ name: "m", path: "/m", backend: "a", policies: { inbound: [{ policy: "custom" }] } }],
    backends: { a: { urls: [upstream.url] } },
    policies: { custom: { sha256: digest } },
  });

  before(async () => {
    upstream = await startUpstream((req, res) => {
      req.resume();
      res.end("ok");
    });
    plane = new ScriptedControlPlane();
    await plane.start();
    plane.push(good(), 1);
    const key = { secret: randomBytes(32), generation: 1 };
    gw = await startFleetGateway(plane, createToken({ gateway: "edge", key: "primary", generation: 1, expires: Date.now() + 86_400_000 }, key));
  });

  after(async () => {
    await gw?.stop();
    await plane?.close();
    await upstream?.close();
  });

  /** Pushes a view, waits until the gateway's heartbeat reports it as refused, and checks the last good one still serves. */
  async function refused(config: unknown, revision: number, expected: RegExp): Promise<{ message: string; problems?: string[] }> {
    const hash = plane.push(config, revision);
    await eventually(`revision ${revision} reported as refused`, () => plane.heartbeat.lastError?.revision === revision);
    const error = plane.heartbeat.lastError!;
    assert.equal(error.hash, hash);
    assert.match([error.message, ...(error.problems ?? [])].join("\n"), expected);
    assert.deepEqual(plane.heartbeat.applied, { revision: 1, hash: sha256(JSON.stringify(good())) }, "the last good configuration is still the applied one");
    const res = await fetch(`${gw.url}/a/x`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok");
    return error;
  }

  it("serves the first good push", async () => {
    assert.equal(await (await fetch(`${gw.url}/a/x`)).text(), "ok");
    await eventually("the heartbeat reports revision 1", () => plane.heartbeat.applied?.revision === 1);
  });

  it("refuses a schema-invalid configuration with every problem, and does not download it again", async () => {
    const invalid = { apis: [{ name: "x", path: "no-slash", backend: "a" }, { name: "y", path: "/y", backend: "missing" }], backends: { a: { urls: [upstream.url] } } };
    const error = await refused(invalid, 2, /apis\[0\]\.path/);
    assert.equal(error.problems!.length, 2);
    assert.match(error.problems![1]!, /apis\[1\]\.backend: unknown backend "missing"/);
    assert.match(gw.output(), /configuration rejected; the last good configuration keeps serving/);
    await new Promise((r) => setTimeout(r, 500)); // five more sync intervals
    assert.equal(plane.downloads.get(sha256(JSON.stringify(invalid))), 1, "a refused view is remembered by its hash");
  });

  it("refuses a module digest the control plane cannot serve", async () => {
    await refused(withModule("b".repeat(64)), 3, /module b{64}: the control plane answered 404/);
  });

  it("refuses a module whose bytes do not match its sha256", async () => {
    const digest = "c".repeat(64);
    plane.modules.set(digest, counter);
    await refused(withModule(digest), 4, /sha256 mismatch/);
  });

  it("refuses a download damaged on the way (body and ETag disagree)", async () => {
    plane.push({ ...good(), apis: [{ name: "z", path: "/z", backend: "a" }] }, 5);
    plane.etag = "d".repeat(64);
    await eventually("the damaged download is reported", () => /damaged/.test(plane.heartbeat.lastError?.message ?? ""));
    assert.equal((await fetch(`${gw.url}/z/x`)).status, 404);
  });

  it("refuses a view that points at a local module file", async () => {
    await refused({ ...good(), policies: { local: { module: "/etc/passwd" } } }, 6, /never from a local path/);
  });

  it("applies the next good push and clears the error", async () => {
    const digest = sha256(counter);
    plane.modules.set(digest, counter);
    const hash = plane.push(withModule(digest), 7);
    await eventually("revision 7 applied", () => plane.heartbeat.applied?.hash === hash && plane.heartbeat.lastError === null);
    const res = await fetch(`${gw.url}/m/x`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  });
});
