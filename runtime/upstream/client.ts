import type { BackendTlsMaterial } from "../../config/snapshot/build.ts";
import type { WatchedBody } from "../http/body-guard.ts";
import type { EgressProxy } from "./egress-proxy.ts";

/** A request to a backend, prepared by the proxy: absolute URL, filtered headers, streaming body. */
export interface UpstreamRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  /** The client's body as it arrives (guarded against slow clients), streamed to the backend untouched; undefined without one. */
  readonly clientBody: WatchedBody | undefined;
  /**
   * How long the backend may take to answer with response headers, counted from the call, the
   * time to send the request body included; past it `send` rejects with UpstreamTimeout.
   */
  readonly timeoutMs: number;
  /** The backend's TLS options (trusted CA, client certificate, server name, verification). */
  readonly tls?: BackendTlsMaterial;
  /** A body a policy buffered (or replaced), sent instead of the client's stream. */
  readonly body?: Uint8Array<ArrayBuffer>;
}

/** The backend sent no response headers within the request's timeout. */
export class UpstreamTimeout extends Error {
  constructor(timeoutMs: number) {
    super(`no response headers within ${timeoutMs} ms`);
    this.name = "UpstreamTimeout";
  }
}

/**
 * Sends requests to backends with keep-alive connection reuse. One implementation per runtime
 * family: the runtime's own `fetch` where it is fast (Bun, Deno), undici on Node.
 * A response resolves as soon as the backend's status and headers arrive; its body streams. Each
 * client enforces the header timeout with its own cheapest mechanism.
 */
export interface UpstreamClient {
  send(request: UpstreamRequest): Promise<Response>;
  close(): Promise<void>;
  /** Its connection pools per backend TLS material, where it keeps its own (undici); undefined where the runtime pools connections (Bun's fetch). */
  readonly pools?: UpstreamPoolStats;
}

/** How to size an upstream client. */
export interface UpstreamOptions {
  /** Connection pools with their own TLS material kept open at most (net.client.tls.max-pools), direct and through a proxy together. */
  readonly maxPools?: number;
  /** The egress proxy decision (net.client.proxy.*, HTTP_PROXY...); undefined: every backend is reached directly. */
  readonly proxy?: EgressProxy;
}

/** What an upstream client's pools hold and have closed, for `/metrics`. */
export interface UpstreamPoolStats {
  /** Pools for backends with their own TLS material that are open. */
  readonly open: number;
  /** Pools closed so far to stay within `maxPools`. */
  readonly evictions: number;
}

/** Pools per TLS material kept open when nothing says otherwise. */
export const DEFAULT_MAX_POOLS = 256;

/** Methods whose requests carry no body to forward. */
export function hasNoBody(method: string): boolean {
  return method === "GET" || method === "HEAD";
}

/** Reason given to an abort signal when a backend timeout fires, to tell it from other aborts. */
export const TIMED_OUT = "portico:backend-timeout";
