import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { http2Server, type ServedHttp2, whenReadable } from "../server/http2.ts";
import { GrpcCall, type GrpcDeps } from "./call.ts";

/** Longest wait, once the listener's connections are closed, for its calls' streams to report closing. */
const SETTLE_MS = 1_000;

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
  readonly #http2: ServedHttp2;
  readonly #front: NetServer;
  readonly #deps: GrpcDeps;
  /** Calls not yet counted and logged. */
  readonly #open = new Set<GrpcCall>();
  #port = 0;

  private constructor(deps: GrpcDeps, limits: GrpcConnectionLimits) {
    this.#deps = deps;
    this.#http2 = http2Server(undefined, limits.idleMs);
    this.#http2.server.on("stream", (stream, headers) => {
      const call = new GrpcCall(deps, stream, headers);
      this.#open.add(call);
      call.start(() => this.#open.delete(call));
    });
    const server = this.#http2.server;
    this.#front = createNetServer((socket: Socket) => whenReadable(socket, limits.firstBytesMs, () => server.emit("connection", socket)));
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
   * flight have finished, or at once with `force` (their streams are reset), and every call has
   * been counted and logged: a call whose stream has not reported closing within SETTLE_MS of its
   * connection's end is ended then. Then closes the sessions to backends.
   */
  async close(force = false): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#front.close(() => resolve()));
    this.#http2.closeSessions(force);
    await closed;
    const deadline = performance.now() + SETTLE_MS;
    while (this.#open.size > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    for (const call of [...this.#open]) call.end();
    this.#deps.sessions.close(force);
  }
}
