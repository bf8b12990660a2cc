import {
  constants,
  createServer as createHttp2Server,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  type Http2Stream,
  type ServerOptions,
} from "node:http2";
import type { Server as HttpServer } from "node:http";
import { problemBody, problemHeaders, PROBLEMS } from "../http/problem.ts";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";

/** The HTTP/2 limits a listener announces in its SETTINGS (net.server.http2.*). */
export interface Http2Limits {
  /** Streams a client may have open at once on one connection. */
  readonly maxConcurrentStreams: number;
  /** Largest header list (names and values, as HTTP/2 counts them) a client may send. */
  readonly maxHeaderListSize: number;
}

/** How long a connection told GOAWAY may take to close before it is destroyed. */
const CLOSE_GRACE_MS = 1_000;

/**
 * A node:http2 server for connections handed to it (`emit("connection", socket)`: a TLS socket
 * whose ALPN chose h2, or an h2c connection), announcing `limits` (node's defaults without). Each
 * session with no stream in flight for `idleMs` is told GOAWAY and closed; a broken client session
 * is never the gateway's error. `onRequest` serves requests through node's compat API; without it
 * the caller serves the server's `stream` events.
 */
export function http2Server(
  limits: Http2Limits | undefined,
  idleMs: number | undefined,
  onRequest?: (request: Http2ServerRequest, response: Http2ServerResponse) => void,
): ServedHttp2 {
  const options: ServerOptions = limits ? { settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderListSize } } : {};
  // A response sent before the request's body has all arrived (a refusal, a backend that answered
  // without reading it) ends the stream with RST_STREAM(NO_ERROR), which tells the client to stop
  // sending (RFC 9113 §8.1); HTTP/1.1 closes the connection instead.
  const serve = onRequest &&
    ((request: Http2ServerRequest, response: Http2ServerResponse) => {
      // node:http2 announces the header list limit but does not enforce it: the gateway does.
      if (limits && headerListSize(request.rawHeaders) > limits.maxHeaderListSize) return refuseHeaders(response, limits.maxHeaderListSize);
      response.once("finish", () => {
        if (!request.complete && !request.stream.closed) request.stream.close(constants.NGHTTP2_NO_ERROR);
      });
      onRequest(request, response);
    });
  const server = serve ? createHttp2Server(options, serve) : createHttp2Server(options);
  const sessions = new Set<Http2Session>();
  server.on("session", (session: Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.on("error", () => {}); // the streams see it; a broken client connection is not the gateway's error
    if (idleMs === undefined) return;
    let streams = 0;
    session.on("stream", (stream: Http2Stream) => {
      streams += 1;
      stream.once("close", () => (streams -= 1));
    });
    session.setTimeout(idleMs, () => {
      if (streams !== 0) return;
      session.close();
      setTimeout(() => session.destroy(), CLOSE_GRACE_MS).unref();
    });
  });
  return {
    server,
    sessions,
    closeSessions(force: boolean) {
      for (const session of sessions) {
        if (force) session.destroy();
        else session.close();
      }
    },
  };
}

/** A header list's size as HTTP/2 counts it (RFC 9113 §6.5.2): each field's name and value plus 32. */
function headerListSize(raw: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < raw.length; i++) size += raw[i]!.length + (i % 2 ? 32 : 0);
  return size;
}

/** Answers 431 problem+json to a request whose header list is over the limit, and ends its stream. */
function refuseHeaders(response: Http2ServerResponse, limit: number): void {
  const { status, title } = PROBLEMS["header-fields-too-large"];
  const problem = { kind: "header-fields-too-large", title, status, detail: `The request's header list is larger than ${limit} bytes.` };
  const headers: Record<string, string> = {};
  problemHeaders(problem).forEach((value, name) => (headers[name] = value));
  response.writeHead(status, headers);
  response.end(problemBody(problem));
}

/** An HTTP/2 server fed by a listener in front of it, with its client sessions. */
export interface ServedHttp2 {
  readonly server: Http2Server;
  /** The client sessions open now. */
  readonly sessions: ReadonlySet<Http2Session>;
  /** Tells every client GOAWAY (streams in flight finish), or with `force` destroys the sessions. */
  closeSessions(force: boolean): void;
}

/**
 * Hands a connection to `take` once the client has sent something, without reading it (a read and
 * an unshift loses the bytes on Bun's node:http2); a connection that sends nothing within
 * `firstBytesMs` is destroyed, since node:http2 cannot close a session that never got the client's
 * preface.
 */
export function whenReadable(socket: Socket, firstBytesMs: number, take: (socket: Socket) => void): void {
  socket.on("error", () => {}); // a client that resets its connection is not the gateway's error
  const timer = setTimeout(() => socket.destroy(), firstBytesMs);
  socket.once("close", () => clearTimeout(timer));
  socket.once("readable", () => {
    clearTimeout(timer);
    take(socket);
  });
}

/** The first bytes of an HTTP/2 connection with prior knowledge (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Whether a connection's first bytes are the HTTP/2 preface, or a prefix of it that may still
 * become it (`undefined` then: more bytes are needed to tell).
 */
export function isH2Preface(head: Uint8Array): boolean | undefined {
  const n = Math.min(head.length, H2_PREFACE.length);
  for (let i = 0; i < n; i++) if (head[i] !== H2_PREFACE[i]) return false;
  return n === H2_PREFACE.length ? true : undefined;
}

/**
 * The plain listener's front when h2c is on (net.server.http2.cleartext): a connection whose first
 * bytes are the HTTP/2 preface goes to `h2`, any other to `h1`, with the bytes read put back first.
 * Used on Node's node:http listener (Bun serves h2c with Bun.serve, Deno not at all); a connection
 * that sends nothing is destroyed after `firstBytesMs`, the request-head timeout.
 */
export function h2cFront(h1: HttpServer, h2: Http2Server, firstBytesMs: number): NetServer {
  return createNetServer((socket: Socket) => {
    socket.on("error", () => {}); // a client that resets its connection is not the gateway's error
    const timer = setTimeout(() => socket.destroy(), firstBytesMs);
    socket.once("close", () => clearTimeout(timer));
    const decide = () => {
      const head = socket.read() as Buffer | null;
      if (head === null) return void socket.once("readable", decide);
      const h2c = isH2Preface(head);
      socket.unshift(head);
      // A prefix of the preface: wait for more (still bounded by the timer).
      if (h2c === undefined) return void socket.once("readable", decide);
      clearTimeout(timer);
      (h2c ? h2 : h1).emit("connection", socket);
    };
    socket.once("readable", decide);
  });
}
