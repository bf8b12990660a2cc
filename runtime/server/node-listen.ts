import { createServer, type IncomingMessage, type Server, ServerResponse } from "node:http";
import type { AddressInfo, Server as NetServer } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { NodeBodyResponse, writeNodeBody } from "../upstream/node-body.ts";
import { HttpProblem } from "../http/problem.ts";
import type { ConnectionTimeouts, FetchHandler, RunningServer } from "./adapter.ts";
import { nodeUpgradeListener } from "../websocket/node-upgrade.ts";
import { proxyProtocolFront, type ProxyProtocolOptions } from "./proxy-protocol.ts";
import { detectRuntime } from "./detect.ts";
import { IncomingRequest, plainRequestUrl } from "./incoming-request.ts";
import type { Http2Limits, ServedHttp2 } from "./http2.ts";

/** How long a new connection may wait to send its first bytes when no timeouts are given (tests of the adapters alone). */
export const DEFAULT_FIRST_BYTES_MS = 10_000;

/** How a node:http server is put on a port. */
export interface NodeListenOptions {
  /**
   * The server that accepts connections, when it is not the HTTP server itself: a node:tls server
   * that hands each decrypted connection to the HTTP server.
   */
  readonly front?: NetServer;
  /** Bind beside another listener on the same port (SO_REUSEPORT), to replace it without a gap. */
  readonly reusePort?: boolean;
  /** Read a PROXY protocol header off each connection first (a node:net front before the server). */
  readonly proxyProtocol?: ProxyProtocolOptions;
  /** The HTTP/2 server the front also hands connections to: its sessions are closed with the listener. */
  readonly http2?: ServedHttp2;
}

/**
 * The request-head timeout is checked on node:http's connection sweep: often enough that a
 * connection is closed within a quarter of the timeout (at most a second) after it expires.
 */
function sweepInterval(headerMs: number): number {
  return Math.max(50, Math.min(1_000, Math.floor(headerMs / 4)));
}

/**
 * A request that @hono/node-server could not turn into a Fetch request (a `Host` that is not a
 * host name, an unusable target): 400 problem+json, and the connection is closed, since whatever
 * follows on it can no longer be trusted to be framed the way the client meant.
 */
function malformedTarget(): Response {
  return new HttpProblem("bad-request", { detail: "The request target or the Host header is not valid.", headers: { connection: "close" } }).toResponse();
}

/**
 * `handler` as a node request listener through @hono/node-server, for node:http and node:http2
 * (its compat request and response) alike; on Node, plain HTTP/1 GET requests take a shorter way
 * (incoming-request.ts).
 */
export function nodeRequestListener(handler: FetchHandler): ReturnType<typeof getRequestListener> {
  // A backend's body nobody read as a web stream (a NodeBodyResponse, Node's upstream client) is
  // written to node:http's response directly, without making one (upstream/node-body.ts). The
  // handler's promise is chained with `then` rather than awaited in an async wrapper: one promise
  // and one microtask turn fewer per request (A/B in bench/RESULTS.md, 2026-12-04 23:50).
  const written = (response: Response, outgoing: unknown): Response =>
    response instanceof NodeBodyResponse && outgoing instanceof ServerResponse && writeNodeBody(response, outgoing) ? RESPONSE_ALREADY_SENT : response;
  const direct = (request: Request, env: { outgoing: unknown }) => {
    const answer = handler(request, env);
    return answer instanceof Promise ? answer.then((response) => written(response, env.outgoing)) : written(answer, env.outgoing);
  };
  const internal = () => new HttpProblem("internal").toResponse();
  const general = getRequestListener(direct as Parameters<typeof getRequestListener>[0], {
    overrideGlobalObjects: false,
    // Called for requests that could not be built (the handler has its own error path).
    errorHandler: (error) => (error instanceof Error && error.name === "RequestError" ? malformedTarget() : internal()),
  });
  if (detectRuntime() !== "node") return general;
  // On Node, a plain HTTP/1 GET (the common request) gets an IncomingRequest instead of
  // @hono/node-server's request, and a response it cannot write directly is handed to
  // @hono/node-server's writer by a second listener that answers with it (`answered`), so every
  // response but the direct ones is written as before. Not on Deno or Bun, whose node:http differs.
  const answers = new WeakMap<IncomingMessage, Response>();
  const answered = getRequestListener((_request, env) => answers.get((env as { incoming: IncomingMessage }).incoming)!, {
    overrideGlobalObjects: false,
    errorHandler: internal,
  });
  // Written with no function made per request under a name of its own: tsx (esbuild's `keepNames`)
  // wraps each in a call that defines its `name`, which a CPU profile put at about 2 µs of a Node
  // request for the two this listener once made (bench/RESULTS.md, 2026-12-05 09:30).
  const finish = (response: Response, incoming: IncomingMessage, outgoing: ServerResponse) => {
    try {
      if (response instanceof NodeBodyResponse && writeNodeBody(response, outgoing)) return;
    } catch {
      if (outgoing.headersSent) {
        outgoing.destroy();
        return;
      }
      response = internal();
    }
    answers.set(incoming, response);
    void answered(incoming, outgoing);
  };
  const plain = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    if (incoming.method !== "GET" || incoming.httpVersionMajor !== 1 || !(outgoing instanceof ServerResponse)) return general(incoming, outgoing);
    const url = plainRequestUrl(incoming);
    if (url === undefined) return general(incoming, outgoing);
    let answer: Response | Promise<Response>;
    try {
      answer = handler(new IncomingRequest(incoming, outgoing, url) as unknown as Request, { incoming, outgoing });
    } catch {
      return finish(internal(), incoming, outgoing);
    }
    if (answer instanceof Promise) answer.then((response) => finish(response, incoming, outgoing), () => finish(internal(), incoming, outgoing));
    else finish(answer, incoming, outgoing);
  };
  return plain as unknown as ReturnType<typeof getRequestListener>;
}

/**
 * A node:http server serving `handler` through @hono/node-server (the listener of Node, of Deno's
 * plain HTTP port, and of every runtime's HTTPS listener), with the connection timeouts applied:
 * `headersTimeout` for the request head and `keepAliveTimeout` between requests. The time to
 * receive a whole request is enforced by the gateway itself (the same on every runtime), so
 * node:http's own `requestTimeout` is off. A handler that takes WebSocket handshakes gets them from
 * node:http's `upgrade` event (`proto`: the listener's scheme, for the request's URL).
 */
export function nodeHttpServer(handler: FetchHandler, timeouts: ConnectionTimeouts | undefined, proto: "http" | "https" = "http"): Server {
  const serverOptions = timeouts
    ? {
      headersTimeout: timeouts.headerMs,
      requestTimeout: 0,
      keepAliveTimeout: timeouts.keepAliveMs,
      connectionsCheckingInterval: sweepInterval(timeouts.headerMs),
    }
    : {};
  const server = createServer(serverOptions, nodeRequestListener(handler));
  if (handler.websockets) server.on("upgrade", nodeUpgradeListener(handler, handler.websockets, proto));
  // Some runtimes' node:http take these only as properties.
  if (timeouts) {
    server.headersTimeout = timeouts.headerMs;
    server.requestTimeout = 0;
    server.keepAliveTimeout = timeouts.keepAliveMs;
  }
  return server;
}

/**
 * Starts a node:http server (directly or behind a node:tls server) on a port and gives it the
 * adapter's shape: the bound port, and a close that lets in-flight requests finish unless forced.
 */
export async function listenNodeServer(
  server: Server,
  port: number,
  hostname: string,
  { front: given, reusePort = false, proxyProtocol, http2 }: NodeListenOptions = {},
): Promise<RunningServer> {
  const front = given ?? (proxyProtocol ? proxyProtocolFront(server, proxyProtocol) : server);
  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen({ port, host: hostname, ...(reusePort ? { reusePort } : {}) }, () => {
      front.off("error", reject);
      resolve();
    });
  });
  return {
    port: (front.address() as AddressInfo).port,
    close: (force = false) =>
      new Promise<void>((resolve) => {
        front.close(() => resolve());
        if (force) server.closeAllConnections();
        else server.closeIdleConnections();
        http2?.closeSessions(force);
      }),
  };
}

/** The IncomingMessage behind a request served by a node:http listener, if that is what served it. */
export function incomingOf(env: unknown): IncomingMessage | undefined {
  return (env as { incoming?: IncomingMessage } | undefined)?.incoming;
}

/**
 * The plain listener on node:http (Node, Deno, and Bun behind the PROXY protocol): HTTP/1.1, and h2c
 * with prior knowledge on the same port when `http2` gives its limits (net.server.http2.cleartext).
 */
export async function listenNodePlain(
  handler: FetchHandler,
  port: number,
  hostname: string,
  timeouts: ConnectionTimeouts | undefined,
  proxyProtocol: ProxyProtocolOptions | undefined,
  http2: Http2Limits | undefined,
): Promise<RunningServer> {
  const server = nodeHttpServer(handler, timeouts);
  if (!http2) return listenNodeServer(server, port, hostname, { proxyProtocol });
  // Loaded only when h2c is on.
  const { h2cFront, http2Server } = await import("./http2.ts");
  const served = http2Server(http2, timeouts?.keepAliveMs, nodeRequestListener(handler));
  const front = h2cFront(server, served.server, timeouts?.headerMs ?? DEFAULT_FIRST_BYTES_MS);
  return listenNodeServer(server, port, hostname, { front, http2: served });
}
