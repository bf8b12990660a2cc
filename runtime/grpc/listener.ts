import { createServer, type Http2Server, type Http2Session } from "node:http2";
import { GrpcCall, type GrpcDeps } from "./call.ts";

/**
 * The gRPC listener (`net.server.grpc.port`): plaintext HTTP/2 (h2c, prior knowledge) served by
 * `node:http2` on every runtime, since it is the one server of the three runtimes that sends
 * response trailers, which gRPC needs. Each stream is one call (runtime/grpc/call.ts).
 */
export class GrpcListener {
  readonly #server: Http2Server;
  readonly #sessions = new Set<Http2Session>();
  readonly #deps: GrpcDeps;
  #port = 0;

  private constructor(deps: GrpcDeps) {
    this.#deps = deps;
    this.#server = createServer();
    this.#server.on("stream", (stream, headers) => new GrpcCall(deps, stream, headers).start());
    this.#server.on("session", (session) => {
      this.#sessions.add(session);
      session.on("close", () => this.#sessions.delete(session));
      session.on("error", () => {}); // the streams see it; a broken client connection is not the gateway's error
    });
  }

  /** Opens the listener on a port and address; rejects when it cannot (port taken, no permission). */
  static async start(port: number, hostname: string, deps: GrpcDeps): Promise<GrpcListener> {
    const listener = new GrpcListener(deps);
    const server = listener.#server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (error) => deps.logger.error("gRPC listener error", { error: String(error) }));
    const address = server.address();
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
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const session of this.#sessions) {
      if (force) session.destroy();
      else session.close();
    }
    await closed;
    this.#deps.sessions.close(force);
  }
}
