/**
 * The ceiling arms: the smallest correct reverse proxy each runtime can run with its own server and
 * client, so that a throughput table shows Portico against what its runtime itself can do.
 * `bun bench/bare.ts PORT UPSTREAM_URL`, `deno run -A bench/bare.ts PORT UPSTREAM_URL`,
 * `node --import tsx bench/bare.ts PORT UPSTREAM_URL`.
 *
 * - Bun: `Bun.serve` + `fetch`; Deno: `Deno.serve` + `fetch`; Node: `node:http` + an undici `Pool`
 *   (keep-alive to the upstream) called through `dispatch` with a handler that writes each chunk
 *   straight into the `ServerResponse` (undici pauses the upstream while the client's socket is
 *   full). Node's arm once piped `Pool.request`'s body with `stream/promises`' `pipeline`, which
 *   halved its throughput (8.5k against 19k requests/s here), then used `Pool.stream`, which cost
 *   about 4 µs of CPU per request more than `dispatch` (bench/RESULTS.md, 2026-12-04 18:30):
 *   a ceiling must be the fastest small proxy the runtime allows, not the first one written.
 * - Each copies the request's method, path, query and headers (without the hop-by-hop ones and the
 *   Host, which the client sets for the upstream), streams the request body when there is one,
 *   and streams the upstream's status, headers (without hop-by-hop ones) and body back.
 * What it leaves out, and Portico does: routing, limits, timeouts, forwarding headers, problem
 * answers, logs and metrics. That difference is what the ratio "vs bare" measures.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from "node:http";

/** Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1), plus Host. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "proxy-authorization",
  "proxy-authenticate",
]);

/** A copy of web headers without the hop-by-hop ones (and, for requests, Host). */
function forwardable(headers: Headers, request: boolean): Headers {
  const out = new Headers();
  headers.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name) && !(request && name === "host")) out.append(name, value);
  });
  return out;
}

/** The web-standard proxy of Bun and Deno: their server's Request to their fetch and back. */
function webProxy(upstream: string): (request: Request) => Promise<Response> {
  return async (request) => {
    const url = new URL(request.url);
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    const answer = await fetch(upstream + url.pathname + url.search, {
      method: request.method,
      headers: forwardable(request.headers, true),
      body: hasBody ? request.body : undefined,
      redirect: "manual",
      // @ts-ignore: Deno and Node's fetch take `duplex` for a streamed body; Bun ignores it
      duplex: hasBody ? "half" : undefined,
    });
    return new Response(answer.body, { status: answer.status, statusText: answer.statusText, headers: forwardable(answer.headers, false) });
  };
}

/**
 * One request of the Node arm, as undici's dispatcher calls it back: the head is written when it
 * comes, each chunk straight to the ServerResponse (undici pauses the backend's connection while the
 * client's socket is full), the end with `end`; a client that goes away aborts the backend's answer.
 */
class NodeExchange {
  abort: ((error?: Error) => void) | undefined;
  done = false;
  constructor(readonly res: ServerResponse) {
    res.once("close", () => {
      if (!this.done) this.abort?.();
    });
  }
  onConnect(abort: (error?: Error) => void): void {
    this.abort = abort;
  }
  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    const out: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(util.parseHeaders(raw))) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
    }
    this.res.writeHead(statusCode, out);
    this.res.on("drain", resume);
    return true;
  }
  onData(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }
  onComplete(): void {
    this.done = true;
    this.res.end();
  }
  onError(): void {
    this.done = true;
    if (!this.res.headersSent) this.res.writeHead(502).end();
    else this.res.destroy();
  }
}

/** undici's helpers, loaded with it on Node. */
let util: typeof import("undici").util;

async function nodeProxy(port: number, upstream: string): Promise<void> {
  const { createServer } = await import("node:http");
  const undici = await import("undici");
  util = undici.util;
  const pool = new undici.Pool(upstream, { connections: 256 });
  const server = createServer((req, res) => {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers as IncomingHttpHeaders)) {
      if (value !== undefined && !HOP_BY_HOP.has(name) && name !== "host") headers[name] = value;
    }
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    pool.dispatch({ path: req.url!, method: req.method as "GET", headers, body: hasBody ? req : undefined }, new NodeExchange(res));
  });
  server.listen(port, "127.0.0.1");
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

const port = Number(process.argv[2]);
const upstream = process.argv[3]?.replace(/\/$/, "");
if (!Number.isInteger(port) || port <= 0 || port > 65535 || !upstream) {
  console.error("usage: bun|deno run -A|node --import tsx bench/bare.ts PORT UPSTREAM_URL");
  process.exit(2);
}
const deno =
  (globalThis as { Deno?: { serve(options: { port: number; hostname: string; onListen?: () => void }, handler: (r: Request) => Promise<Response>): unknown } })
    .Deno;
if (typeof Bun !== "undefined") Bun.serve({ port, hostname: "127.0.0.1", fetch: webProxy(upstream) });
else if (deno) deno.serve({ port, hostname: "127.0.0.1", onListen: () => {} }, webProxy(upstream));
else await nodeProxy(port, upstream);
