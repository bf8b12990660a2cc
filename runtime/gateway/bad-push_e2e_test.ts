import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createToken } from "../../control-plane/tokens.ts";
import { eventually, startFleetGateway } from "../../test/control-plane.ts";
import { type GatewayProcess, ROOT } from "../../test/harness.ts";
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
  heartbeat: {
    applied?: { revision: number; hash: string } | null;
    lastError?: { message: string; revision?: number; hash?: string; problems?: string[] } | null;
  } = {};
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

/** A gateway of its own with the scripted control plane that feeds it. */
interface Pair {
  readonly plane: ScriptedControlPlane;
  readonly gw: GatewayProcess;
}

describe("bad pushes never go live", { timeout: 180_000 }, () => {
  // The backend only answers "ok"; every test gets its own control plane and gateway (startPair),
  // so no test depends on what another pushed, refused or left behind, nor on their order.
  let upstream: Upstream;
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
  });

  after(async () => {
    await upstream?.close();
  });

  /**
   * Runs `test` against a fresh scripted control plane and a fresh gateway that has applied the
   * good configuration as revision 1 (and said so in a heartbeat); both are stopped afterwards.
   */
  async function withPair(test: (pair: Pair) => Promise<void>): Promise<void> {
    const plane = new ScriptedControlPlane();
    await plane.start();
    let gw: GatewayProcess | undefined;
    try {
      plane.push(good(), 1);
      const key = { secret: randomBytes(32), generation: 1 };
      gw = await startFleetGateway(plane, createToken({ gateway: "edge", key: "primary", generation: 1, expires: Date.now() + 86_400_000 }, key));
      await eventually("the heartbeat reports revision 1 applied", () => plane.heartbeat.applied?.revision === 1);
      await test({ plane, gw });
    } finally {
      await gw?.stop();
      await plane.close();
    }
  }

  /** Pushes a view, waits until the gateway's heartbeat reports it as refused, and checks the last good one still serves. */
  async function refused({ plane, gw }: Pair, config: unknown, revision: number, expected: RegExp): Promise<{ message: string; problems?: string[] }> {
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

  it("serves the first good push and reports it in the heartbeat", () =>
    withPair(async ({ plane, gw }) => {
      assert.equal(await (await fetch(`${gw.url}/a/x`)).text(), "ok");
      assert.deepEqual(plane.heartbeat.applied, { revision: 1, hash: sha256(JSON.stringify(good())) });
      assert.equal(plane.heartbeat.lastError, null);
    }));

  it("refuses a schema-invalid configuration with every problem, and does not download it again", () =>
    withPair(async (pair) => {
      const invalid = {
        apis: [{ name: "x", path: "no-slash", backend: "a" }, { name: "y", path: "/y", backend: "missing" }],
        backends: { a: { urls: [upstream.url] } },
      };
      const error = await refused(pair, invalid, 2, /apis\[0\]\.path/);
      assert.equal(error.problems!.length, 2);
      assert.match(error.problems![1]!, /apis\[1\]\.backend: unknown backend "missing"/);
      assert.match(pair.gw.output(), /configuration rejected; the last good configuration keeps serving/);
      await new Promise((r) => setTimeout(r, 500)); // five more sync intervals
      assert.equal(pair.plane.downloads.get(sha256(JSON.stringify(invalid))), 1, "a refused view is remembered by its hash");
    }));

  it("refuses a module digest the control plane cannot serve", () =>
    withPair(async (pair) => {
      await refused(pair, withModule("b".repeat(64)), 2, /module b{64}: the control plane answered 404/);
    }));

  it("refuses a module whose bytes do not match its sha256", () =>
    withPair(async (pair) => {
      const digest = "c".repeat(64);
      pair.plane.modules.set(digest, counter);
      await refused(pair, withModule(digest), 2, /sha256 mismatch/);
    }));

  it("refuses a download damaged on the way (body and ETag disagree)", () =>
    withPair(async ({ plane, gw }) => {
      plane.push({ ...good(), apis: [{ name: "z", path: "/z", backend: "a" }] }, 2);
      plane.etag = "d".repeat(64);
      await eventually("the damaged download is reported", () => /damaged/.test(plane.heartbeat.lastError?.message ?? ""));
      assert.equal((await fetch(`${gw.url}/z/x`)).status, 404);
      assert.equal(await (await fetch(`${gw.url}/a/x`)).text(), "ok");
    }));

  it("refuses a view that points at a local module file", () =>
    withPair(async (pair) => {
      await refused(pair, { ...good(), policies: { local: { module: "/etc/passwd" } } }, 2, /never from a local path/);
    }));

  it("applies a good push after a refused one and clears the error", () =>
    withPair(async (pair) => {
      await refused(pair, withModule("b".repeat(64)), 2, /the control plane answered 404/);
      const digest = sha256(counter);
      pair.plane.modules.set(digest, counter);
      const hash = pair.plane.push(withModule(digest), 3);
      await eventually("revision 3 applied", () => pair.plane.heartbeat.applied?.hash === hash && pair.plane.heartbeat.lastError === null);
      assert.equal(pair.plane.heartbeat.applied?.revision, 3);
      const res = await fetch(`${pair.gw.url}/m/x`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }));
});
