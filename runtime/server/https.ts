import { proxiedSource } from "./proxy-protocol.ts";
import type { IncomingMessage } from "node:http";
import {
  createSecureContext,
  createServer as createTlsServer,
  type DetailedPeerCertificate,
  type SecureContext,
  type SecureContextOptions,
  type TLSSocket,
} from "node:tls";
import type { CertificateSet, ServerCertificate } from "../tls/certificates.ts";
import { rotateTicketKeys } from "../tls/session-tickets.ts";
import type { ConnectionTimeouts, FetchHandler, PeerCertificate, RunningServer, TlsListenOptions } from "./adapter.ts";
import { DEFAULT_FIRST_BYTES_MS, listenNodeServer, nodeHttpServer, nodeRequestListener } from "./node-listen.ts";
import type { Http2Limits } from "./http2.ts";

/** The protocol limits of a TLS listener as node:tls takes them. */
function limits(tls: TlsListenOptions): SecureContextOptions {
  return {
    minVersion: tls.minVersion,
    maxVersion: tls.maxVersion,
    // The operator's list or Portico's defaults: node:tls takes TLS 1.3 suites (IANA names) in the same list.
    ciphers: tls.suites ? [tls.suites.tls13, tls.suites.tls12].filter(Boolean).join(":") : undefined,
    honorCipherOrder: tls.suites ? true : undefined,
  };
}

/** How an adapter wants its node:tls listener run. */
export interface HttpsListenOptions {
  /** Bind beside another listener on the same port (SO_REUSEPORT), for the Bun adapter's swaps. */
  readonly reusePort?: boolean;
  /** Replace the session ticket key this often (ms); only where node:tls honours `setTicketKeys` (Node). */
  readonly ticketKeyRotationMs?: number;
  /** Connection timeouts (request head, keep-alive); the head timeout also bounds the TLS handshake. */
  readonly timeouts?: ConnectionTimeouts;
  /** Offer HTTP/2 by ALPN with these limits (net.server.http2.*); HTTP/1.1 only without. */
  readonly http2?: Http2Limits;
}

/**
 * An HTTPS listener made of a node:tls server that hands each decrypted connection to a node:http
 * server serving `handler` through @hono/node-server. It is the one HTTPS server that, on all three
 * runtimes, chooses certificates by SNI and hands the client's certificate to the gateway (Bun's
 * and Deno's own servers and Bun's node:https do not). Certificates are chosen per connection from
 * the live certificate set, so updating them needs no new listener and drops no connection.
 * The connection timeouts also bound the TLS handshake (by the request-head timeout).
 */
export async function listenHttps(
  port: number,
  hostname: string,
  handler: FetchHandler,
  tls: TlsListenOptions,
  { reusePort = false, ticketKeyRotationMs, timeouts, http2 }: HttpsListenOptions = {},
): Promise<RunningServer> {
  let certificates: CertificateSet = tls.certificates;
  let contexts = new Map<ServerCertificate, SecureContext>();
  const contextFor = (entry: ServerCertificate) => {
    let context = contexts.get(entry);
    if (!context) contexts.set(entry, context = createSecureContext({ ...limits(tls), cert: entry.cert, key: entry.key }));
    return context;
  };
  const serverOptions = {
    ...limits(tls),
    cert: certificates.default.cert,
    key: certificates.default.key,
    // Client certificates are asked for, never required here: policies decide (validate-client-certificate).
    requestCert: certificates.negotiates,
    rejectUnauthorized: false,
    // A client that never finishes its handshake is held no longer than one that never finishes its request head.
    ...(timeouts ? { handshakeTimeout: timeouts.headerMs } : {}),
    // h2 first: a client that offers both gets HTTP/2.
    ...(http2 ? { ALPNProtocols: ["h2", "http/1.1"] } : {}),
    SNICallback: (servername: string, done: (error: Error | null, context?: SecureContext) => void) => {
      try {
        done(null, contextFor(certificates.find(servername)));
      } catch (error) {
        done(error as Error);
      }
    },
  };
  const http = nodeHttpServer(handler, timeouts, "https");
  // Loaded only when HTTP/2 is offered: node:http2 is not loaded otherwise.
  const h2 = http2 ? await import("./http2.ts") : undefined;
  const served = h2?.http2Server(http2, timeouts?.keepAliveMs, nodeRequestListener(handler));
  const firstBytesMs = timeouts?.headerMs ?? DEFAULT_FIRST_BYTES_MS;
  const server = createTlsServer(serverOptions, (socket) => {
    if (served && socket.alpnProtocol === "h2") h2!.whenReadable(socket, firstBytesMs, () => served.server.emit("connection", socket));
    else http.emit("connection", socket);
  });
  const running = await listenNodeServer(http, port, hostname, { front: server, reusePort, http2: served });
  const stopRotation = ticketKeyRotationMs ? rotateTicketKeys(server, ticketKeyRotationMs) : () => {};
  return {
    ...running,
    close(force?: boolean) {
      stopRotation();
      return running.close(force);
    },
    updateCertificates(next: CertificateSet) {
      certificates = next;
      contexts = new Map();
      // node:tls reads the server's requestCert for each new connection.
      (server as unknown as { requestCert: boolean }).requestCert = next.negotiates;
      // The default context serves clients that send no SNI.
      server.setSecureContext({ ...limits(tls), cert: next.default.cert, key: next.default.key });
      return Promise.resolve();
    },
  };
}

/** The client's address for a request served by `listenHttps` (or any node:http server). */
export function incomingClientAddress(env: unknown): string {
  const socket = (env as { incoming: IncomingMessage }).incoming.socket;
  // A PROXY header's client (net.server.http.proxy-protocol) wins over the proxy's own address.
  return proxiedSource(socket) ?? socket.remoteAddress ?? "";
}

/** Certificates of the client's chain looked at beyond the leaf (a chain is a handful). */
const MAX_PEER_CHAIN = 16;

/**
 * The SNI name, the client's certificate (DER) and the other certificates it sent (DER, following
 * the `issuerCertificate` links of `getPeerCertificate(true)`, which Bun, Deno and Node all fill from
 * the chain the client sent) of a request served by `listenHttps`.
 */
export function peerCertificate(env: unknown): PeerCertificate {
  const socket = (env as { incoming?: { socket?: TLSSocket } }).incoming?.socket;
  if (!socket || typeof socket.getPeerCertificate !== "function") return { servername: undefined, der: undefined, chain: [] };
  const peer = socket.getPeerCertificate(true) as DetailedPeerCertificate | undefined;
  const servername = typeof socket.servername === "string" ? socket.servername : undefined;
  if (!peer || !peer.raw || !peer.raw.length) return { servername, der: undefined, chain: [] };
  const chain: Uint8Array[] = [];
  for (let link = peer.issuerCertificate; link && link !== peer && link.raw?.length && chain.length < MAX_PEER_CHAIN; link = link.issuerCertificate) {
    chain.push(link.raw);
    if (link.issuerCertificate === link) break; // self-signed: the end
  }
  return { servername, der: peer.raw, chain };
}
