import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { after, before, describe, it } from "node:test";
import { detectRuntime } from "../server/detect.ts";
import { nodeRequestListener } from "../server/node-listen.ts";
import { NodeBodyResponse, responseField, writeNodeBody } from "./node-body.ts";
import { undiciUpstream } from "./undici.ts";
import { UpstreamBody } from "./upstream-body.ts";

// On Bun, "undici" is Bun's own stand-in and the gateway calls backends with Bun's fetch.
const onBun = detectRuntime() === "bun" ? "Bun's gateway does not use undici" : false;

const BIG = 4 * 1024 * 1024;
const big = new Uint8Array(BIG).map((_, i) => i % 251);

/** Listens on a free loopback port; returns the server and its base URL. */
async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A body that has received `chunks` and ended; `aborted` tells whether its producer was aborted. */
function bodyOf(chunks: string[], ended = true): { body: UpstreamBody; aborted: () => Error | undefined } {
  let reason: Error | undefined;
  const body = new UpstreamBody({ resume: () => {}, abort: (error) => (reason = error) });
  for (const chunk of chunks) body.push(Buffer.from(chunk));
  if (ended) body.end();
  return { body, aborted: () => reason };
}

describe("a backend's body as undici delivered it (NodeBodyResponse)", () => {
  const response = () =>
    new NodeBodyResponse(bodyOf(["hello ", "world"]).body, {
      status: 201,
      headers: { "content-length": "11", "x-a": "1" },
    });

  it("answers every body member from a web stream made on first use, once", async () => {
    const r = response();
    assert.equal(r.status, 201);
    assert.equal(r.headers.get("x-a"), "1");
    assert.equal(r.bodyUsed, false);
    assert.equal(await r.text(), "hello world");
    assert.equal(r.bodyUsed, true);
    await assert.rejects(r.text(), TypeError);
    assert.equal(r.takeBody(), undefined, "the body is gone once it was read as a web stream");
  });

  it("clones, reads as bytes and as a stream like a Response", async () => {
    const r = response();
    const copy = r.clone();
    assert.equal(await copy.text(), "hello world");
    assert.deepEqual([...await r.bytes()], [...Buffer.from("hello world")]);
    const s = response();
    assert.ok(s.body instanceof ReadableStream);
    assert.equal(await new Response(s.body).text(), "hello world");
  });

  it("is a Response by its prototype: a fetched response's members, a new Response made from it, the Headers it was given as its own", async () => {
    const given = new Headers({ "content-length": "11", "x-b": "2" });
    const r = new NodeBodyResponse(bodyOf(["hello world"]).body, { status: 404, statusText: "Gone Away", headers: given });
    assert.ok(r instanceof Response);
    assert.equal(Object.prototype.toString.call(r), Object.prototype.toString.call(new Response(null)));
    assert.deepEqual([r.ok, r.type, r.url, r.redirected, r.status, r.statusText], [false, "default", "", false, 404, "Gone Away"]);
    assert.equal(r.headers, given, "a Headers object given is the response's own, not a copy");
    assert.equal(new NodeBodyResponse(bodyOf([]).body).status, 200);
    assert.equal(new NodeBodyResponse(bodyOf([]).body, { status: 204 }).ok, true);
    // What a policy or a re-wrapping does with a response: a Response made from its body and init.
    const wrapped = new Response(r.body, r);
    assert.deepEqual([wrapped.status, wrapped.statusText, wrapped.headers.get("x-b")], [404, "Gone Away", "2"]);
    assert.equal(await wrapped.text(), "hello world");
    assert.equal(r.bodyUsed, true);
  });

  it("aborts the backend's body when its web stream is cancelled before anything read it", async () => {
    const { body, aborted } = bodyOf(["he"], false);
    const r = new NodeBodyResponse(body, { headers: { "content-length": "5" } });
    await r.body!.cancel(new Error("client gone"));
    assert.match(String(aborted()), /client gone/);
  });

  it("keeps an error that came while nobody read the body, for the reader that comes next", async () => {
    const { body } = bodyOf(["he"], false);
    const r = new NodeBodyResponse(body, { headers: { "content-length": "5" } });
    body.fail(new Error("connection reset"));
    await assert.rejects(r.text(), /connection reset/);
  });

  it("keeps undici's fields until its headers are read, then adds them once, as Headers joins them", () => {
    const fields = { "content-length": "11", "set-cookie": ["a=1", "b=2"], vary: ["accept", "origin"], "x-gone": undefined };
    const r = new NodeBodyResponse(bodyOf(["hello world"]).body, { status: 200 }, fields);
    assert.equal(r.rawFields(), fields);
    assert.equal(responseField(r, "content-length"), "11");
    assert.equal(responseField(r, "vary"), "accept, origin");
    assert.equal(responseField(r, "x-gone"), null);
    assert.equal(r.rawFields(), fields, "reading single fields does not make the Headers");
    assert.equal(r.headers.get("vary"), "accept, origin");
    assert.deepEqual(r.headers.getSetCookie(), ["a=1", "b=2"]);
    assert.equal(r.headers.has("x-gone"), false);
    assert.equal(r.rawFields(), undefined, "the Headers are the truth once made");
    assert.equal(r.headers.get("vary"), "accept, origin", "the fields are added once");
    assert.equal(responseField(r, "vary"), "accept, origin");
    assert.equal(responseField(new Response(null, { headers: { vary: "x" } }), "vary"), "x");
  });

  it("gives its body away once while nobody has read it, and then counts as used", () => {
    const r = response();
    assert.ok(r.takeBody() instanceof UpstreamBody);
    assert.equal(r.takeBody(), undefined);
    assert.equal(r.bodyUsed, true);
  });
});

describe("Node's listener writes a backend's body straight to the client", { skip: onBun }, () => {
  let backend: Server;
  let gateway: Server;
  let backendUrl: string;
  let gatewayUrl: string;
  /** Responses the backend holds open (/hold), and whether their connection closed. */
  const held: { res: ServerResponse; closed: boolean }[] = [];
  const client = undiciUpstream(undefined, { nodeBodies: true });
  /** What each gateway call returned: writeNodeBody writes only NodeBodyResponses. */
  const kinds: string[] = [];

  before(async () => {
    backend = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url === "/hello") {
        res.setHeader("set-cookie", ["a=1", "b=2"]);
        res.setHeader("x-repeated", ["1", "2"]);
        res.setHeader("content-length", "11");
        res.end("hello world");
      } else if (req.url === "/big") {
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(BIG) });
        // In 64 KiB pieces, so the gateway writes many chunks (and meets backpressure).
        for (let at = 0; at < BIG; at += 65_536) res.write(big.subarray(at, at + 65_536));
        res.end();
      } else if (req.url === "/short") {
        res.writeHead(200, { "content-length": "100" });
        res.write("only ten b");
        setTimeout(() => res.destroy(), 50);
      } else if (req.url === "/empty") {
        res.writeHead(200, { "content-length": "0", "content-type": "text/plain" });
        res.end();
      } else if (req.url === "/hold") {
        res.writeHead(200, { "content-length": String(BIG) });
        res.write(big.subarray(0, 65_536));
        const entry = { res, closed: false };
        res.on("close", () => (entry.closed = true));
        held.push(entry);
      } else if (req.url === "/chunked") {
        res.write("chunk one, ");
        res.end("chunk two");
      }
    });
    backendUrl = await listen(backend);
    gateway = createServer(nodeRequestListener(async (request) => {
      const url = new URL(request.url);
      const response = await client.send({
        url: `${backendUrl}${url.pathname}`,
        method: request.method,
        headers: new Headers(),
        clientBody: undefined,
        timeoutMs: 5_000,
        tls: { verify: true, fingerprint: "plain" },
      });
      kinds.push(response instanceof NodeBodyResponse ? "node" : "web");
      return response;
    }));
    gatewayUrl = await listen(gateway);
  });

  after(async () => {
    for (const { res } of held) res.destroy();
    await closeServer(gateway);
    await closeServer(backend);
    await client.close();
  });

  it("passes the status, every Set-Cookie field and the body, with the listener's default Content-Type", async () => {
    const response = await fetch(`${gatewayUrl}/hello`);
    assert.equal(response.status, 200);
    assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
    assert.equal(response.headers.get("x-repeated"), "1, 2");
    assert.equal(response.headers.get("content-type"), "text/plain; charset=UTF-8");
    assert.equal(response.headers.get("content-length"), "11");
    assert.equal(await response.text(), "hello world");
    assert.equal(kinds.at(-1), "node");
  });

  it("passes a 4 MiB body whole and in order", async () => {
    const response = await fetch(`${gatewayUrl}/big`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    assert.equal(bytes.length, BIG);
    assert.ok(bytes.every((byte, i) => byte === i % 251), "every byte as the backend sent it");
  });

  it("answers an empty body with a Content-Length of 0", async () => {
    const response = await fetch(`${gatewayUrl}/empty`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-length"), "0");
    assert.equal(await response.text(), "");
  });

  it("cuts the client's response short when the backend stops before its declared length", async () => {
    const response = await fetch(`${gatewayUrl}/short`);
    assert.equal(response.status, 200);
    await assert.rejects(response.text(), "the client sees a body that ended early, not a complete one");
    // The gateway keeps serving.
    assert.equal(await (await fetch(`${gatewayUrl}/hello`)).text(), "hello world");
  });

  it("lets go of the backend's response when the client goes away mid-body", async () => {
    const controller = new AbortController();
    const response = await fetch(`${gatewayUrl}/hold`, { signal: controller.signal });
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.ok(first.value && first.value.length > 0);
    controller.abort();
    await until(() => held.length === 1 && held[0]!.closed, "the backend's connection to close");
    assert.equal(await (await fetch(`${gatewayUrl}/hello`)).text(), "hello world");
  });

  it("leaves a chunked body (no Content-Length) to the listener's own framing", async () => {
    const response = await fetch(`${gatewayUrl}/chunked`);
    assert.equal(await response.text(), "chunk one, chunk two");
  });

  it("writes nothing and says so for a body already read, or one with no declared length", async () => {
    const outgoing = { destroyed: false } as unknown as ServerResponse;
    const read = new NodeBodyResponse(bodyOf(["x"]).body, { headers: { "content-length": "1" } });
    await read.text();
    assert.equal(writeNodeBody(read, outgoing), false);
    const chunked = new NodeBodyResponse(bodyOf(["x"]).body, {});
    assert.equal(writeNodeBody(chunked, outgoing), false);
    assert.ok(chunked.takeBody(), "the body stays for the listener's own path");
  });

  it("cuts the client's response when the backend's body failed before the head was written", () => {
    const { body } = bodyOf([], false);
    const response = new NodeBodyResponse(body, { headers: { "content-length": "5" } });
    body.fail(new Error("connection reset"));
    let cut = false;
    const outgoing = { destroyed: false, destroy: () => (cut = true) } as unknown as ServerResponse;
    assert.equal(writeNodeBody(response, outgoing), true);
    assert.ok(cut, "the client's connection is destroyed, not left waiting for a body that will not come");
  });

  it("aborts the backend's body when the client was gone before the head", () => {
    const { body, aborted } = bodyOf(["he"], false);
    let cut = false;
    const outgoing = { destroyed: true, destroy: () => (cut = true) } as unknown as ServerResponse;
    assert.equal(writeNodeBody(new NodeBodyResponse(body, { headers: { "content-length": "5" } }), outgoing), true);
    assert.ok(aborted() && cut);
  });
});
