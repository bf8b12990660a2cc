import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import type { BackendTlsMaterial } from "../../config/certificates.ts";
import { detectRuntime } from "../server/detect.ts";
import { undiciUpstream } from "./undici.ts";

/** TLS material as the upstream client sees it; over plain HTTP only its fingerprint matters (one pool each). */
const material = (name: string): BackendTlsMaterial => ({ verify: true, fingerprint: name });

// Node and Deno send to backends through undici; on Bun, "undici" is Bun's own stand-in and the
// gateway uses Bun's fetch (runtime/upstream/fetch.ts), which pools connections itself.
const onBun = detectRuntime() === "bun" ? "Bun's gateway does not use undici" : false;

describe("undici upstream pools per backend TLS material", { skip: onBun }, () => {
  let server: Server;
  let url: string;
  /** The pool (x-pool header) each connection first served, and the pools whose connection closed. */
  const poolOf = new Map<Socket, string>();
  const closed: string[] = [];
  const held: ServerResponse[] = [];

  before(async () => {
    server = createServer((req, res) => {
      const socket = req.socket;
      if (!poolOf.has(socket)) {
        poolOf.set(socket, String(req.headers["x-pool"]));
        socket.on("close", () => closed.push(poolOf.get(socket)!));
      }
      if (req.url === "/hold") held.push(res);
      else res.end("ok");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  after(async () => {
    for (const res of held) res.end();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const send = (client: ReturnType<typeof undiciUpstream>, pool: string, path = "/") =>
    client.send({
      url: `${url}${path}`,
      method: "GET",
      headers: new Headers({ "x-pool": pool }),
      clientBody: undefined,
      timeoutMs: 5_000,
      tls: material(pool),
    });

  const until = async (check: () => boolean, what: string) => {
    const deadline = Date.now() + 5_000;
    while (!check()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  it("keeps at most maxPools pools open and closes the least recently used one, with its connections", async () => {
    const client = undiciUpstream(undefined, { maxPools: 2 });
    try {
      for (const pool of ["a", "b", "a"]) assert.equal(await (await send(client, pool)).text(), "ok");
      assert.equal(client.pools!.open, 2);
      assert.equal(client.pools!.evictions, 0);
      assert.equal(await (await send(client, "c")).text(), "ok");
      assert.equal(client.pools!.open, 2);
      assert.equal(client.pools!.evictions, 1);
      await until(() => closed.includes("b"), "b's connection to close");
      assert.ok(!closed.includes("a"), "a was used after b: its pool stays open");
      assert.equal(await (await send(client, "a")).text(), "ok");
      assert.equal(client.pools!.evictions, 1, "a was still open");
    } finally {
      await client.close();
    }
  });

  it("lets a request in flight on a pool it closes finish", async () => {
    const client = undiciUpstream(undefined, { maxPools: 1 });
    try {
      const pending = send(client, "slow", "/hold");
      await until(() => held.length === 1, "the held request to arrive");
      assert.equal(await (await send(client, "other")).text(), "ok");
      assert.equal(client.pools!.evictions, 1);
      held[0]!.end("late");
      const response = await pending;
      assert.equal(response.status, 200);
      assert.equal(await response.text(), "late");
      await until(() => closed.includes("slow"), "the closed pool's connection to close once idle");
    } finally {
      await client.close();
    }
  });
});
