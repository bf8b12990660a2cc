import { createServer, type Http2Server, type Http2Session, type Http2Stream } from "node:http2";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { GrpcCall, type GrpcDeps } from "./call.ts";

/** How long an idle connection told GOAWAY may take to close before it is destroyed. */
const CLOSE_GRACE_MS = 1_000;

/** Time limits on the gRPC listener's client connections. */
export interface GrpcConnectionLimits {
  /** Longest wait for a new connection's first bytes (net.server.timeouts.header). */
  readonly firstBytesMs: number;
  /** Longest time a connection may stay without a call in flight (net.server.timeouts.keep-alive). */
  readonly idleMs: number;
}

/**
 * The gRPC listener (`net.server.grpc.port`): plaintext HTTP/2 (h2c, prior knowledge) served by
 * `node:http2` on every runtime, since it is the one server of the three runtimes that sends
 * response trailers, which gRPC needs. Each stream is one call (runtime/grpc/call.ts).
 *
 * Connections are accepted by a node:net front that hands them to the HTTP/2 server once their
 * first bytes arrive: a connection that sends nothing is closed after `firstBytesMs` (node:http2
 * cannot close a session that never got the client's preface), and one with no call in flight for
 * `idleMs` is told GOAWAY and closed; a quiet streaming call keeps its connection.
 */
export class GrpcListener {
  readonly #server: Http2Server;
  readonly #front: NetServer;
  readonly #sessions = new Set<Http2Session>();
  readonly #deps: GrpcDeps;
  #port = 0;

  private constructor(deps: GrpcDeps, limits: GrpcConnectionLimits) {
    this.#deps = deps;
    this.#server = createServer();
    this.#server.on("stream", (stream, headers) => new GrpcCall(deps, stream, headers).start());
    this.#server.on("session", (session) => {
      this.#sessions.add(session);
      let calls = 0;
      session.on("stream", (stream: Http2Stream) => {
        calls += 1;
        stream.once("close", () => (calls -= 1));
      });
      session.setTimeout(limits.idleMs, () => {
        if (calls !== 0) return;
        // GOAWAY, then the connection goes whatever the client does.
        session.close();
        setTimeout(() => session.destroy(), CLOSE_GRACE_MS).unref();
      });
      session.on("close", () => this.#sessions.delete(session));
      session.on("error", () => {}); // the streams see it; a broken client connection is not the gateway's error
    });
    this.#front = createNetServer((socket: Socket) => {
      socket.on("error", () => {}); // a client that resets its connection is not the gateway's error
      const timer = setTimeout(() => socket.destroy(), limits.firstBytesMs);
      socket.once("close", () => clearTimeout(timer));
      // Waits for bytes without reading them (a read and unshift loses them on Bun's node:http2).
      socket.once("readable", () => {
        clearTimeout(timer);
        this.#server.emit("connection", socket);
      });
    });
  }

  /** Opens the listener on a port and address; rejects when it cannot (port taken, no permission). */
  static async start(port: number, hostname: string, deps: GrpcDeps, limits: GrpcConnectionLimits): Promise<GrpcListener> {
    const listener = new GrpcListener(deps, limits);
    const front = listener.#front;
    await new Promise<void>((resolve, reject) => {
      front.once("error", reject);
      front.listen(port, hostname, () => {
        front.off("error", reject);
        resolve();
      });
    });
    front.on("error", (error) => deps.logger.error("gRPC listener error", { error: String(error) }));
    const address = front.address();
    listener.#port = typeof address === "object" && address ? address.port : port;
    return listener;
  }

  /** The port it listens on. */
  get port(): number {
    return this.#port;
  }

  /**
   * Stops accepting connections and tells every client so (GOAWAY); resolves once the calls in
   * flight have finished, or at once with `force` (their streams are reset). Then closes the
   * sessions to backends.
   */
  async close(force = false): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#front.close(() => resolve()));
    for (const session of this.#sessions) {
      if (force) session.destroy();
      else session.close();
    }
    await closed;
    this.#deps.sessions.close(force);
  }
}
