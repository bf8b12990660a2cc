/**
 * HTTP/2-only test backends, run on Node by test/http2-backend-process.ts (so every runtime's
 * gateway meets the same servers, and no test process on Deno hosts a node:http2 server: see the
 * capability table in docs/protocols.md). Argument: JSON `{ cert, key }` (PEM text).
 *
 * - an h2c server (prior knowledge only) and an h2 server over TLS (ALPN h2, no HTTP/1.1 fallback),
 *   both answering `/echo` with what they saw as JSON and two cookies, `/slow` after 3 s and `/big`
 *   with 4 MiB streamed;
 * - an HTTPS server that speaks only HTTP/1.1;
 * - an h2c server that sends GOAWAY on the 30th stream of a session (the streams after it are not
 *   processed), answering the others with their path;
 * - a plain HTTP/1.1 server whose `/state` gives the sessions each HTTP/2 server accepted and the
 *   streams cancelled before their answer.
 *
 * Prints `listening {"h2c":P,"tls":P,"http1":P,"goaway":P,"state":P}` once all of them listen.
 */
import { createHash } from "node:crypto";
import { createServer as createHttpServer } from "node:http";
import {
  constants,
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from "node:http2";
import { createServer as createHttpsServer } from "node:https";
import type { Server } from "node:net";

const { cert, key } = JSON.parse(process.argv[2]!) as { cert: string; key: string };
const state = { sessions: { h2c: 0, tls: 0, goaway: 0 }, cancelled: 0, goaways: 0 };

function serve(server: Http2Server | Http2SecureServer, name: "h2c" | "tls"): void {
  server.on("session", () => state.sessions[name]++);
  server.on("request", (req: Http2ServerRequest, res: Http2ServerResponse) => {
    if (req.url === "/slow") {
      const timer = setTimeout(() => res.end("late"), 3_000);
      req.stream.on("close", () => {
        if (!res.writableEnded) {
          clearTimeout(timer);
          state.cancelled++;
        }
      });
      return;
    }
    if (req.url === "/big") {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const chunk = Buffer.alloc(64 * 1024, 7);
      let left = 64;
      const write = (): void => {
        while (left > 0) {
          left--;
          if (!res.write(chunk)) return void res.once("drain", write);
        }
        res.end();
      };
      write();
      return;
    }
    const hash = createHash("sha256");
    let bytes = 0;
    req.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    req.on("end", () => {
      const seen = {
        version: req.httpVersion,
        method: req.method,
        path: req.url,
        authority: req.authority,
        scheme: req.scheme,
        headers: req.headers,
        bytes,
        sha256: hash.digest("hex"),
      };
      res.setHeader("set-cookie", ["a=1", "b=2"]);
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(seen));
    });
  });
}

function listen(server: Server | Http2Server | Http2SecureServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

const h2c = createServer();
serve(h2c, "h2c");
const tls = createSecureServer({ cert, key, allowHTTP1: false });
serve(tls, "tls");
const goaway = createServer();
goaway.on("session", (session) => {
  state.sessions.goaway++;
  let streams = 0;
  session.on("stream", (stream, headers) => {
    streams++;
    stream.on("error", () => {});
    // Streams past the GOAWAY are not processed: refused, as RFC 9113 §6.8 lets a server do.
    if (streams > 30) return void (stream.destroyed || stream.close(constants.NGHTTP2_REFUSED_STREAM));
    stream.respond({ ":status": 200 });
    stream.end(String(headers[":path"]));
    if (streams === 30) {
      state.goaways++;
      session.goaway(constants.NGHTTP2_NO_ERROR, stream.id);
    }
  });
});
const http1 = createHttpsServer({ cert, key }, (_req, res) => res.end("http/1.1"));
const stateServer = createHttpServer((_req, res) => res.end(JSON.stringify(state)));
const ports = { h2c: await listen(h2c), tls: await listen(tls), http1: await listen(http1), goaway: await listen(goaway), state: await listen(stateServer) };
console.log(`listening ${JSON.stringify(ports)}`);
