import { fetchUpstream } from "../upstream/fetch.ts";
import type { TlsVersion } from "../../config/schema/tls.ts";
import type { CertificateSet } from "../tls/certificates.ts";
import type { FetchHandler, ListenOptions, RunningServer, ServerAdapter, TlsListenOptions } from "./adapter.ts";
import { incomingClientAddress, listenHttps, peerCertificate } from "./https.ts";

type BunServer = import("bun").Server<undefined>;

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

function serve(port: number, hostname: string, handler: FetchHandler, tls?: TlsListenOptions): BunServer {
  return Bun.serve({
    port,
    hostname,
    fetch: handler as (request: Request, server: BunServer) => Response | Promise<Response>,
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    idleTimeout: 255,
    development: false,
    // HTTPS listeners are replaced to change certificates: the new one binds beside the old one.
    ...(tls ? { reusePort: true, tls: bunTls(tls.certificates, tls) as never } : {}),
  });
}

/** A running Bun.serve in the adapter's shape. */
function running(server: BunServer, port: number): RunningServer {
  return { port: server.port ?? port, close: (force = false) => server.stop(force) };
}

/**
 * An HTTPS listener for one certificate set. Bun.serve (the fast path) cannot hand client
 * certificates to the handler (oven-sh/bun#14097), so a set where some host name negotiates them
 * is served by the node:tls listener instead, which Bun implements fully for that.
 */
function listenTls(port: number, hostname: string, handler: FetchHandler, tls: TlsListenOptions): Promise<RunningServer> {
  if (tls.certificates.negotiates) return listenHttps(port, hostname, handler, tls, { reusePort: true });
  return Promise.resolve(running(serve(port, hostname, handler, tls), port));
}

/** Bun.serve: the primary runtime. Request bodies of any size stream; the idle timeout is Bun's maximum. */
export const bunAdapter: ServerAdapter = {
  runtime: "bun",
  version: Bun.version,
  capabilities: {
    streamingRequestBodies: true,
    upstreamClient: "fetch",
    // BoringSSL, Bun's TLS library, has no setting for TLS 1.3 suites at all (see docs/tls.md).
    tls: { minVersions: ["TLSv1.2", "TLSv1.3"], restrictTls12Suites: true, restrictTls13Suites: false, capAtTls12: true },
    // setTicketKeys throws "not implemented" in Bun: BoringSSL rotates its own key (docs/tls.md).
    ticketKeys: "runtime",
    upstreamTls: { restrictTls12Suites: true, restrictTls13Suites: false, capAtTls12: true },
  },
  async listen({ port, hostname, handler, tls }: ListenOptions): Promise<RunningServer> {
    if (!tls) return running(serve(port, hostname, handler), port);
    let server = await listenTls(port, hostname, handler, tls);
    const bound = server.port;
    return {
      port: bound,
      close: (force = false) => server.close(force),
      // Bun.serve cannot swap certificates in place: a new listener binds the same port (SO_REUSEPORT),
      // then the old one stops accepting and lets its connections finish.
      async updateCertificates(certificates: CertificateSet) {
        const next = await listenTls(bound, hostname, handler, { ...tls, certificates });
        const old = server;
        server = next;
        await old.close(false);
      },
    };
  },
  clientAddress(request: Request, env: unknown): string {
    // The node:tls listener hands over `{ incoming, outgoing }`, Bun.serve its server.
    if ("incoming" in (env as object)) return incomingClientAddress(env);
    return (env as BunServer).requestIP(request)?.address ?? "";
  },
  peerCertificate,
  createFetch: ({ ca }) => (ca ? (((input: RequestInfo | URL, init?: RequestInit) => fetch(input, { ...init, tls: { ca } } as RequestInit)) as typeof fetch) : fetch),
  createUpstreamClient: fetchUpstream,
};
