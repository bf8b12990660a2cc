import type { BackendTlsMaterial } from "../../config/snapshot/build.ts";
import type { WatchedBody } from "../http/body-guard.ts";
import type { EgressProxy } from "./egress-proxy.ts";
import type { OutgoingHeaders } from "./header-fields.ts";

/** A request to a backend, prepared by the proxy: absolute URL, filtered headers, streaming body. */
export interface UpstreamRequest {
  readonly url: string;
  readonly method: string;
  /** Web Headers, or a HeaderFields record for a client that takes one (`headerFields`). */
  readonly headers: OutgoingHeaders;
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
  /** Send it over HTTP/2 (the backend's `protocol: http2`); HTTP/1.1 when false or absent. */
  readonly http2?: boolean;
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
  /**
   * The client sends a request whose `headers` are a HeaderFields record as that record (undici),
   * so the proxy may build one instead of web Headers where no policy sees them. Absent: the
   * client is always given web Headers (Bun's fetch).
   */
  readonly headerFields?: boolean;
}

/** How to size an upstream client. */
export interface UpstreamOptions {
  /** Connection pools with their own TLS material kept open at most (net.client.tls.max-pools), direct and through a proxy together. */
  readonly maxPools?: number;
  /** The egress proxy decision (net.client.proxy.*, HTTP_PROXY...); undefined: every backend is reached directly. */
  readonly proxy?: EgressProxy;
  /**
   * Answer with a NodeBodyResponse (upstream/node-body.ts): the body stays an UpstreamBody until it
   * is read as a web stream, so a node:http listener (Node's, Deno's) can write it out without making one (undici only).
   */
  readonly nodeBodies?: boolean;
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

/**
 * One client for every backend: requests for backends with `protocol: http2` go to the HTTP/2
 * client, made on the first of them (a gateway without such a backend never loads node:http2),
 * and every other request to `base`, at the cost of one property check.
 */
export function withHttp2(base: UpstreamClient, load: () => Promise<UpstreamClient>): UpstreamClient {
  let http2: Promise<UpstreamClient> | undefined;
  return {
    send: (request) => (request.http2 ? (http2 ??= load()).then((client) => client.send(request)) : base.send(request)),
    close: async () => {
      await Promise.all([base.close(), http2?.then((client) => client.close())]);
    },
    ...(base.pools ? { pools: base.pools } : {}),
    // The HTTP/2 client reads headers through OutgoingHeaders only, so it takes either kind.
    ...(base.headerFields ? { headerFields: true } : {}),
  };
}

/** Reason given to an abort signal when a backend timeout fires, to tell it from other aborts. */
export const TIMED_OUT = "portico:backend-timeout";
