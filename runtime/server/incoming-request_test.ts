import assert from "node:assert/strict";
import { createServer, type IncomingMessage, request as httpRequest, type Server, type ServerResponse } from "node:http";
import { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { IncomingHeaders, IncomingRequest, plainRequestUrl } from "./incoming-request.ts";
import { nodeRequestListener } from "./node-listen.ts";
import { detectRuntime } from "./detect.ts";
import type { FetchHandler } from "./adapter.ts";

/** What a handler saw of a request, for comparing the two ways a request can be built. */
interface Seen {
  /** Built as an IncomingRequest (Node's shorter way) rather than by @hono/node-server. */
  own: boolean;
  isRequest: boolean;
  method: string;
  url: string;
  accept: string | null;
  cookie: string | null;
  missing: string | null;
  hasAccept: boolean;
  entries: [string, string][];
  cache: string;
  cloneUrl: string;
  text: string;
}

/** Sends a raw HTTP/1.1 request (exact target and fields) and reads the whole answer. */
function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let answer = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
    socket.connect(port, "127.0.0.1", () => socket.write(head));
  });
}

describe("IncomingHeaders", () => {
  const raw = ["Accept", "text/html", "X-Many", "a", "x-many", "b", "Cookie", "a=1", "cookie", "b=2", "Set-Cookie", "s=1", "set-cookie", "s=2"];

  it("answers get and has from the raw fields as Headers would, joining repeated fields (Cookie with '; ')", () => {
    const headers = new IncomingHeaders(raw);
    assert.equal(headers.get("accept"), "text/html");
    assert.equal(headers.get("ACCEPT"), "text/html");
    assert.equal(headers.get("x-many"), "a, b");
    assert.equal(headers.get("cookie"), "a=1; b=2");
    assert.equal(headers.get("set-cookie"), "s=1, s=2");
    assert.equal(headers.get("absent"), null);
    assert.equal(headers.has("X-Many"), true);
    assert.equal(headers.has("absent"), false);
  });

  it("is a Headers, and every other member behaves as Headers filled with the same fields", () => {
    const headers = new IncomingHeaders(raw);
    const real = new Headers();
    for (let i = 0; i < raw.length; i += 2) real.append(raw[i]!, raw[i + 1]!);
    assert.ok(headers instanceof Headers);
    assert.deepEqual([...headers], [...real]);
    assert.deepEqual(headers.getSetCookie(), ["s=1", "s=2"]);
    headers.set("accept", "application/json");
    headers.delete("x-many");
    headers.append("x-new", "1");
    assert.equal(headers.get("accept"), "application/json");
    assert.equal(headers.get("x-many"), null);
    assert.equal(headers.get("x-new"), "1");
  });

  it("leaves what only Headers can judge to Headers: an invalid name throws, surrounding whitespace is trimmed", () => {
    assert.throws(() => new IncomingHeaders(raw).get("bad name"), TypeError);
    assert.equal(new IncomingHeaders(["X-Pad", " v \t"]).get("x-pad"), "v");
  });
});

describe("plainRequestUrl", () => {
  const incoming = (url: string, host: string | undefined) => ({ url, headers: host === undefined ? {} : { host }, socket: {} }) as unknown as IncomingMessage;

  it("builds scheme://host/target for a plain target and host", () => {
    assert.equal(plainRequestUrl(incoming("/a/b?x=1&y=2", "example.com")), "http://example.com/a/b?x=1&y=2");
    assert.equal(plainRequestUrl(incoming("/", "127.0.0.1:18080")), "http://127.0.0.1:18080/");
    const tls = { url: "/", headers: { host: "example.com" }, socket: { encrypted: true } } as unknown as IncomingMessage;
    assert.equal(plainRequestUrl(tls), "https://example.com/");
  });

  it("leaves anything a URL parser would change or check to the general way", () => {
    for (
      const [url, host] of [
        ["/a/../b", "example.com"],
        ["/a/./b", "example.com"],
        ["/a/..", "example.com"],
        ["/%2e%2e/b", "example.com"],
        ["/a\\b", "example.com"],
        ["/a#frag", "example.com"],
        ["http://example.com/", "example.com"],
        ["*", "example.com"],
        ["/", "Example.com"],
        ["/", "example.com:80"],
        ["/", "example.com:65535"],
        ["/", "a,b"],
        ["/", "[::1]:8080"],
        ["/", ""],
        ["/", undefined],
      ] as const
    ) {
      assert.equal(plainRequestUrl(incoming(url, host)), undefined, `${url} with Host ${host}`);
    }
  });
});

describe("a GET through the node:http listener", () => {
  let server: Server;
  let port: number;
  let seen: Seen | undefined;

  before(async () => {
    const handler = ((request: Request) => {
      if (request.url.endsWith("/throw")) throw new Error("thrown");
      if (request.url.endsWith("/reject")) return Promise.reject(new Error("rejected"));
      return see(request);
    }) as FetchHandler;
    const see = async (request: Request) => {
      seen = {
        own: request instanceof IncomingRequest,
        isRequest: request instanceof Request,
        method: request.method,
        url: request.url,
        accept: request.headers.get("accept"),
        cookie: request.headers.get("cookie"),
        missing: request.headers.get("x-missing"),
        hasAccept: request.headers.has("Accept"),
        entries: [...request.headers].filter(([name]) => name !== "host" && name !== "connection"),
        cache: request.cache,
        cloneUrl: request.clone().url,
        text: await request.text(),
      };
      return new Response("seen", { headers: { "x-answer": "1" } });
    };
    server = createServer(nodeRequestListener(handler) as (req: IncomingMessage, res: ServerResponse) => void);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const get = (path: string, headers: Record<string, string | string[]>) =>
    new Promise<{ status: number; body: string; answer: string | undefined }>((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode!, body, answer: res.headers["x-answer"] as string | undefined }));
      });
      req.on("error", reject);
      req.end();
    });

  it("gives the handler a Request with its URL and fields, answers other members (cache, clone, text) from a real one, and writes its answer", async () => {
    const answer = await get("/a/b?x=1", { accept: "text/plain", cookie: ["a=1", "b=2"], "x-two": ["1", "2"] });
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "seen");
    assert.equal(answer.answer, "1");
    assert.deepEqual(seen, {
      own: detectRuntime() === "node",
      isRequest: true,
      method: "GET",
      url: `http://127.0.0.1:${port}/a/b?x=1`,
      accept: "text/plain",
      cookie: "a=1; b=2",
      missing: null,
      hasAccept: true,
      entries: [["accept", "text/plain"], ["cookie", "a=1; b=2"], ["x-two", "1, 2"]],
      cache: "default",
      cloneUrl: `http://127.0.0.1:${port}/a/b?x=1`,
      text: "",
    });
  });

  it("answers a handler that throws or rejects with a 500 problem", async () => {
    for (const path of ["/throw", "/reject"]) {
      const answer = await get(path, {});
      assert.equal(answer.status, 500, path);
      assert.equal(JSON.parse(answer.body).status, 500, path);
    }
  });

  it("normalises a target with dot segments the general way", async () => {
    const answer = await rawRequest(port, `GET /a/../b HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.equal(seen!.url, `http://127.0.0.1:${port}/b`);
    assert.equal(seen!.own, false);
  });

  it("refuses a Host that is not a host name with 400 and closes the connection", async () => {
    const answer = await rawRequest(port, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /\r\nconnection: close\r\n/i);
  });
});

describe("IncomingRequest", () => {
  it("is a Request whose other members come from a real one", () => {
    const outgoing = { once() {}, destroyed: false, writableFinished: false } as unknown as ServerResponse;
    const incoming = { rawHeaders: ["Accept", "a"] } as unknown as IncomingMessage;
    const request = new IncomingRequest(incoming, outgoing, "http://example.com/x") as unknown as Request;
    assert.ok(request instanceof Request);
    assert.equal(request.mode, "cors");
    assert.equal(request.redirect, "follow");
    assert.equal(request.clone().headers.get("accept"), "a");
    assert.equal(request.signal.aborted, false);
  });
});
