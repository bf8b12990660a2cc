import type { UpstreamClient } from "../upstream/client.ts";

/** The JavaScript runtimes Portico runs on. */
export type RuntimeName = "bun" | "deno" | "node";

/**
 * A request handler as the adapters call it: the Fetch API request plus the runtime's own
 * per-request value (Bun's server, Deno's serve info, Node's `{ incoming, outgoing }`), which
 * Hono receives as `c.env` and the adapter knows how to read the client address from.
 */
export type FetchHandler = (request: Request, env: unknown) => Response | Promise<Response>;

/** What a runtime can do, so callers branch on capabilities, never on the runtime's name. */
export interface Capabilities {
  /** Request bodies stream to the handler without buffering. */
  readonly streamingRequestBodies: boolean;
  /** The upstream client used on this runtime, for the docs and logs. */
  readonly upstreamClient: "fetch" | "undici";
}

/** Where and how to listen. */
export interface ListenOptions {
  readonly port: number;
  readonly hostname: string;
  readonly handler: FetchHandler;
}

/** A listening server. */
export interface RunningServer {
  readonly port: number;
  /** Stops accepting connections; resolves when the listener is closed. In-flight requests finish unless `force`. */
  close(force?: boolean): Promise<void>;
}

/** One runtime's way of serving HTTP and calling backends, behind one interface. */
export interface ServerAdapter {
  readonly runtime: RuntimeName;
  readonly version: string;
  readonly capabilities: Capabilities;
  listen(options: ListenOptions): Promise<RunningServer>;
  /** The client's IP address for a request this adapter delivered. */
  clientAddress(request: Request, env: unknown): string;
  createUpstreamClient(): UpstreamClient;
}
