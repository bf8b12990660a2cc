import type { Readable } from "node:stream";
import { Agent, type Dispatcher, errors, ProxyAgent, util } from "undici";
import type { BackendTlsMaterial } from "../../config/snapshot/build.ts";
import type { ClientTlsLimits } from "../tls/limits.ts";
import type { ProxyEndpoint } from "./egress-proxy.ts";
import { requestTarget } from "./request-target.ts";
import { appendFields, NodeBodyResponse, type RawFields } from "./node-body.ts";
import { DEFAULT_MAX_POOLS, type UpstreamClient, type UpstreamOptions, type UpstreamRequest, UpstreamTimeout } from "./client.ts";
import { UpstreamBody } from "./upstream-body.ts";
import { HeaderFields, type OutgoingHeaders } from "./header-fields.ts";

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

function toHeaders(raw: RawFields): Headers {
  const headers = new Headers();
  appendFields(headers, raw);
  return headers;
}

function headerRecord(headers: OutgoingHeaders): Record<string, string | string[]> {
  if (headers instanceof HeaderFields) return headers.fields;
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

/**
 * An upstream client on undici's dispatcher API for Node and Deno, several times faster than their
 * `fetch`. Requests without a body use undici's own header timer; a request with a body gets a
 * timer that also runs while the body is sent (undici's starts only once the body is complete, so
 * a client that never finishes its body would hold the backend forever).
 * Backends with their own TLS material (CA, client certificate, server name, verification) get a
 * connection pool each, shared across configuration swaps; at most `maxPools` stay open, and the
 * least recently used one is closed (its requests in flight finish first) to make room for another.
 * With an egress proxy, backends it does not exempt are reached through undici's ProxyAgent:
 * https ones in a CONNECT tunnel with the same TLS options end to end, http ones with
 * absolute-form requests; those pools are kept per proxy the same way.
 * With `nodeBodies` (Node and Deno), bodies stay UpstreamBodies until read as web streams (node-body.ts).
 */
export function undiciUpstream(limits?: ClientTlsLimits, { maxPools = DEFAULT_MAX_POOLS, proxy, nodeBodies = false }: UpstreamOptions = {}): UpstreamClient {
  const pool = { keepAliveTimeout: 30_000, connections: 256, pipelining: 1 };
  // The client-wide limits (net.client.tls.ciphers.allowed-suites, else Portico's defaults): node:tls
  // takes both lists in `ciphers`.
  const connect = limits?.suites
    ? { ciphers: [limits.suites.tls13, limits.suites.tls12].filter(Boolean).join(":"), ...(limits.maxVersion ? { maxVersion: limits.maxVersion } : {}) }
    : {};
  const tlsOf = (material: BackendTlsMaterial) => ({
    ...connect,
    ca: material.ca,
    cert: material.cert,
    key: material.key,
    rejectUnauthorized: material.verify,
    servername: material.sni,
  });
  // Through a proxy: TLS to the backend inside the tunnel (requestTls), Proxy-Authorization from the
  // proxy URL's user info (given apart, so the URL undici keeps and may show has none).
  const viaProxy = (via: ProxyEndpoint, tls: object) =>
    new ProxyAgent({ ...pool, uri: via.origin, ...(via.authorization ? { token: via.authorization } : {}), proxyTunnel: false, requestTls: tls });
  const agent = new Agent({ ...pool, connect });
  // The default pool through each proxy (http and https may name the same one).
  const proxyAgents = new Map<ProxyEndpoint, Dispatcher>();
  // Pools by TLS material fingerprint (and proxy), in least recently used order.
  const agents = new Map<string, Dispatcher>();
  let evictions = 0;
  const pooled = (key: string, make: () => Dispatcher) => {
    let own = agents.get(key);
    if (own) {
      agents.delete(key);
    } else {
      if (agents.size >= maxPools) {
        const oldest = agents.keys().next().value!;
        // Closing waits for the requests it is serving; new ones get a new pool.
        agents.get(oldest)!.close().catch(() => {});
        agents.delete(oldest);
        evictions += 1;
      }
      own = make();
    }
    agents.set(key, own);
    return own;
  };
  const direct = (material: BackendTlsMaterial | undefined) =>
    material ? pooled(material.fingerprint, () => new Agent({ ...pool, connect: tlsOf(material) })) : agent;
  const proxied = (via: ProxyEndpoint, material: BackendTlsMaterial | undefined) => {
    if (material) return pooled(`${material.fingerprint} ${via.origin}`, () => viaProxy(via, tlsOf(material)));
    let own = proxyAgents.get(via);
    if (!own) proxyAgents.set(via, own = viaProxy(via, connect));
    return own;
  };
  // Decided once here: without a proxy, a request costs no proxy lookup at all.
  const dispatcherFor = proxy
    ? (request: UpstreamRequest) => {
      const via = proxy.proxyFor(request.url);
      return via ? proxied(via, request.tls) : direct(request.tls);
    }
    : (request: UpstreamRequest) => direct(request.tls);
  return {
    send(request: UpstreamRequest): Promise<Response> {
      const body: Uint8Array | AsyncIterable<Uint8Array> | null = request.body ?? request.clientBody ?? null;
      return new Promise<Response>((resolve, reject) => {
        const exchange = new UndiciExchange(request, nodeBodies, resolve, reject);
        // Only a streamed body needs a timer of its own; undici's header timer serves everything else.
        // Started first: a request undici refuses at once (onError) clears it.
        if (request.clientBody && !request.body) exchange.startTimer();
        // The dispatcher directly, with the URL split once (request-target.ts), not undici's `request(url)`.
        const { origin, path } = requestTarget(request.url);
        dispatcherFor(request).dispatch({
          origin,
          path,
          method: request.method as "GET",
          headers: headerRecord(request.headers),
          body: body as Readable | Uint8Array | null,
          headersTimeout: request.timeoutMs,
          bodyTimeout: 0,
        }, exchange);
      });
    },
    close: async () => {
      await Promise.all([agent.close(), ...[...proxyAgents.values(), ...agents.values()].map((a) => a.close())]);
    },
    headerFields: true,
    pools: {
      get open() {
        return agents.size;
      },
      get evictions() {
        return evictions;
      },
    },
  };
}

/**
 * One request to a backend through undici's dispatcher, handled without undici's `request()` API:
 * the response resolves when its head is in, and its body's chunks go straight into an
 * UpstreamBody (no Node Readable, no AsyncResource; see upstream-body.ts for what that saves).
 * 1xx answers are passed over. A request that streams the client's body gets a timer of its own
 * (`startTimer`): undici's header timer starts only once the body is sent, so a client that never
 * finishes its body would hold the backend forever.
 */
class UndiciExchange implements Dispatcher.DispatchHandler {
  #abort: ((error?: Error) => void) | undefined;
  /** Why the exchange was aborted before undici gave it a way to abort (still queued for a connection). */
  #reason: Error | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #body: UpstreamBody | undefined;

  constructor(
    readonly request: UpstreamRequest,
    readonly nodeBodies: boolean,
    readonly resolve: (response: Response) => void,
    readonly reject: (error: unknown) => void,
  ) {}

  /** Aborts the exchange with UpstreamTimeout if its head has not come within the request's timeout. */
  startTimer(): void {
    this.#timer = setTimeout(() => this.#cancel(new UpstreamTimeout(this.request.timeoutMs)), this.request.timeoutMs);
  }

  #cancel(reason: Error): void {
    if (this.#abort) this.#abort(reason);
    else this.#reason = reason;
  }

  onConnect(abort: (error?: Error) => void): void {
    if (this.#reason) abort(this.#reason);
    else this.#abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    clearTimeout(this.#timer);
    const fields = util.parseHeaders(rawHeaders) as RawFields;
    const noBody = this.request.method === "HEAD" || NULL_BODY_STATUS.has(statusCode);
    if (noBody) {
      // Whatever comes is read and dropped (onData), so the connection can be used again.
      this.resolve(new Response(null, { status: statusCode, headers: toHeaders(fields) }));
      return true;
    }
    const abort = this.#abort!;
    const body = this.#body = new UpstreamBody({ resume, abort });
    // A NodeBodyResponse keeps undici's fields until something reads its headers.
    this.resolve(
      this.nodeBodies
        ? new NodeBodyResponse(body, { status: statusCode }, fields)
        : new Response(body.toWeb(), { status: statusCode, headers: toHeaders(fields) }),
    );
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.#body ? this.#body.push(chunk) : true;
  }

  onComplete(): void {
    this.#body?.end();
  }

  onError(error: Error): void {
    clearTimeout(this.#timer);
    if (this.#body) {
      this.#body.fail(error);
      return;
    }
    this.reject(error instanceof errors.HeadersTimeoutError ? new UpstreamTimeout(this.request.timeoutMs) : error);
  }
}
