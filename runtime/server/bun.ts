import { bunOwnFetch, fetchUpstream } from "../upstream/fetch.ts";
import type { TlsVersion } from "../../config/schema/tls.ts";
import type { CertificateSet } from "../tls/certificates.ts";
import type { ConnectionTimeouts, FetchHandler, ListenOptions, RunningServer, ServerAdapter, TlsListenOptions } from "./adapter.ts";
import { incomingClientAddress, listenHttps, peerCertificate } from "./https.ts";
import { incomingFramingProblem } from "./node-framing.ts";
import { listenNodeServer, nodeHttpServer } from "./node-listen.ts";
import { BunBridge, bunWebSocketOptions } from "../websocket/bun-bridge.ts";
import { isWebSocketUpgrade, takeUpgrade } from "../websocket/connections.ts";
import { HttpProblem } from "../http/problem.ts";
import type { Http2Limits } from "./http2.ts";

type BunServer = import("bun").Server<BunBridge>;

/** Bun's TLS options take protocol versions as numbers (0x0303 = TLS 1.2). */
const VERSION_NUMBER: Record<TlsVersion, number> = { TLSv1: 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304 };

/** Bun.serve's TLS array: one entry per host name (SNI), the first being the default. */
function bunTls(certificates: CertificateSet, tls: TlsListenOptions) {
  return certificates.entries.map((entry) => ({
    serverName: entry.host,
    cert: entry.cert,
    key: entry.key,
    minVersion: VERSION_NUMBER[tls.minVersion],
    ...(tls.maxVersion ? { maxVersion: VERSION_NUMBER[tls.maxVersion] } : {}),
    // Restricts TLS 1.2 suites only; TLS 1.3 suites are honoured by capping the version (see the capabilities).
    ...(tls.suites?.tls12 ? { ciphers: tls.suites.tls12 } : {}),
  }));
}

/**
 * The SETTINGS Bun.serve sends when it serves HTTP/2 (measured with `nghttp -nv`: 256 concurrent
 * streams, a 16 KiB header list); it has no options to change them.
 */
export const BUN_SERVE_HTTP2_LIMITS: Http2Limits = { maxConcurrentStreams: 256, maxHeaderListSize: 16 * 1024 };

/** Why the plain listener cannot serve h2c with other limits on Bun (see the capabilities). */
const PLAIN_HTTP2_LIMITS = `h2c on Bun is served by Bun.serve, whose HTTP/2 limits are fixed (${BUN_SERVE_HTTP2_LIMITS.maxConcurrentStreams} streams, a ${
  BUN_SERVE_HTTP2_LIMITS.maxHeaderListSize / 1024
} KiB header list)`;

/** Bun.serve's longest idle timeout, in seconds. */
const MAX_IDLE_SECONDS = 255;

/** Bun.serve's idle timeout (whole seconds, 1 to 255) for a keep-alive timeout; 255 when none is given. */
function idleSeconds(timeouts: ConnectionTimeouts | undefined): number {
  if (!timeouts) return MAX_IDLE_SECONDS;
  return Math.min(MAX_IDLE_SECONDS, Math.max(1, Math.ceil(timeouts.keepAliveMs / 1000)));
}

/** Whether Bun.serve's own HTTP/2 limits are the ones asked for. */
function bunServeHonours(limits: Http2Limits): boolean {
  return limits.maxConcurrentStreams === BUN_SERVE_HTTP2_LIMITS.maxConcurrentStreams && limits.maxHeaderListSize === BUN_SERVE_HTTP2_LIMITS.maxHeaderListSize;
}

function serve(
  port: number,
  hostname: string,
  handler: FetchHandler,
  timeouts: ConnectionTimeouts | undefined,
  tls?: TlsListenOptions,
  http2 = false,
): BunServer {
  return Bun.serve({
    port,
    hostname,
    fetch: (handler.websockets ? bunUpgradeFetch(handler) : handler) as (request: Request, server: BunServer) => Response | Promise<Response>,
    ...(handler.websockets ? { websocket: bunWebSocketOptions(handler.websockets) as never } : {}),
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    // Bun counts idle time during a request too: requests that may wait longer ask for more (setIdleTimeout).
    idleTimeout: idleSeconds(timeouts),
    development: false,
    // h2 by ALPN beside HTTP/1.1 on TLS, h2c with prior knowledge beside HTTP/1.1 on plain HTTP.
    ...(http2 ? { http2: true } : {}),
    // HTTPS listeners are replaced to change certificates: the new one binds beside the old one.
    ...(tls ? { reusePort: true, tls: bunTls(tls.certificates, tls) as never } : {}),
  });
}

/**
 * The fetch of a Bun.serve that takes WebSocket handshakes: the handler answers them like any
 * request; one whose backend accepted is then upgraded (server.upgrade, answering 101 with the
 * backend's subprotocol) and bridged to the backend (BunBridge). Other requests pass untouched.
 */
function bunUpgradeFetch(handler: FetchHandler) {
  const connections = handler.websockets!;
  return (request: Request, server: BunServer) => {
    if (!isWebSocketUpgrade(request)) return handler(request, server);
    return (async () => {
      const response = await handler(request, server);
      const backend = takeUpgrade(request);
      if (!backend) return response;
      const upgraded = server.upgrade(request, {
        data: new BunBridge(backend, connections),
        headers: backend.protocol ? { "sec-websocket-protocol": backend.protocol } : {},
      });
      if (upgraded) return undefined;
      backend.socket.destroy();
      return new HttpProblem("bad-request", { detail: "The connection could not be upgraded to WebSocket." }).toResponse();
    })();
  };
}

/** A running Bun.serve in the adapter's shape. */
function running(server: BunServer, port: number): RunningServer {
  return { port: server.port ?? port, close: (force = false) => server.stop(force) };
}

/**
 * An HTTPS listener for one certificate set. Bun.serve (the fast path) cannot hand client
 * certificates to the handler (oven-sh/bun#14097), so a set where some host name negotiates them
 * is served by the node:tls listener instead, which Bun implements fully for that; so is HTTP/2
 * with other limits than Bun.serve's own (BUN_SERVE_HTTP2_LIMITS), which node:http2 honours.
 */
function listenTls(
  port: number,
  hostname: string,
  handler: FetchHandler,
  tls: TlsListenOptions,
  timeouts: ConnectionTimeouts | undefined,
  http2: Http2Limits | undefined,
): Promise<RunningServer> {
  if (tls.certificates.negotiates || (http2 && !bunServeHonours(http2))) {
    return listenHttps(port, hostname, handler, tls, { reusePort: true, timeouts, http2 });
  }
  return Promise.resolve(running(serve(port, hostname, handler, timeouts, tls, http2 !== undefined), port));
}

/** True when Bun.serve (not the node:tls listener, whose `env` carries the IncomingMessage) served the request. */
function servedByBunServe(env: unknown): env is BunServer {
  return !("incoming" in (env as object));
}

/**
 * Bun.serve: the primary runtime. Request bodies of any size stream. Bun.serve closes a connection
 * whose request head is not complete after about 10 s (checked on a 4 s tick) and has no setting
 * for it; its idle timeout (at most 255 s) is the keep-alive timeout and also runs during a request.
 */
export const bunAdapter: ServerAdapter = {
  runtime: "bun",
  version: Bun.version,
  capabilities: {
    // BoringSSL, Bun's TLS library, has no setting for TLS 1.3 suites at all (see docs/tls.md).
    tls: { minVersions: ["TLSv1.2", "TLSv1.3"], restrictTls12Suites: true, restrictTls13Suites: false, capAtTls12: true },
    // setTicketKeys throws "not implemented" in Bun: BoringSSL rotates its own key (docs/tls.md).
    ticketKeys: "runtime",
    upstreamTls: { restrictTls12Suites: true, restrictTls13Suites: false, capAtTls12: true },
    // Measured with a partial request head: closed after 9.0 to 12.0 s (see docs/runtimes.md).
    headerTimeout: { kind: "fixed", minMs: 8_000, maxMs: 12_000 },
    maxKeepAliveMs: MAX_IDLE_SECONDS * 1000,
    absoluteFormAuthority: false,
    dropsPipelinedConnections: true,
    // Bun.serve serves h2c with its own limits; node:http2 behind a front loses the bytes it peeks on Bun.
    plainHttp2Limits: BUN_SERVE_HTTP2_LIMITS,
  },
  async listen({ port, hostname, handler, tls, timeouts, proxyProtocol, http2 }: ListenOptions): Promise<RunningServer> {
    // Bun.serve never shows the raw connection: the PROXY header is read by node:http's listener, which Bun implements.
    if (!tls && proxyProtocol) return listenNodeServer(nodeHttpServer(handler, timeouts), port, hostname, { proxyProtocol });
    if (!tls) {
      if (http2 && !bunServeHonours(http2)) throw new Error(PLAIN_HTTP2_LIMITS);
      return running(serve(port, hostname, handler, timeouts, undefined, http2 !== undefined), port);
    }
    let server = await listenTls(port, hostname, handler, tls, timeouts, http2);
    const bound = server.port;
    return {
      port: bound,
      close: (force = false) => server.close(force),
      // Bun.serve cannot swap certificates in place: a new listener binds the same port (SO_REUSEPORT),
      // then the old one stops accepting and lets its connections finish.
      async updateCertificates(certificates: CertificateSet) {
        const next = await listenTls(bound, hostname, handler, { ...tls, certificates }, timeouts, http2);
        const old = server;
        server = next;
        // Not awaited: the old listener stops accepting at once, but its close resolves only when its
        // last connection ends, and an open WebSocket may never end (it is closed at shutdown).
        void old.close(false).catch(() => {});
      },
    };
  },
  clientAddress(request: Request, env: unknown): string {
    // The node:tls listener hands over `{ incoming, outgoing }`, Bun.serve its server.
    if (!servedByBunServe(env)) return incomingClientAddress(env);
    return env.requestIP(request)?.address ?? "";
  },
  setIdleTimeout(request: Request, env: unknown, ms: number): void {
    // Bun keeps the value for the connection until it is set again; bounded by Bun's own maximum.
    if (servedByBunServe(env)) env.timeout(request, Math.min(MAX_IDLE_SECONDS, Math.max(1, Math.ceil(ms / 1000))));
  },
  async connectionDropped(request: Request, env: unknown): Promise<boolean> {
    if (!servedByBunServe(env)) return false;
    // Bun.serve drops the connection (and aborts the request's signal) once it has parsed a
    // pipelined request behind this one; that has happened by the next turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    return request.signal.aborted;
  },
  rawFramingProblem: incomingFramingProblem,
  peerCertificate,
  createFetch: ({ ca, proxy }) => bunOwnFetch(ca, proxy),
  createUpstreamClient: fetchUpstream,
};
