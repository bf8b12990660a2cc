import { fetchTrusting } from "../upstream/undici-fetch.ts";
import { undiciUpstream } from "../upstream/undici.ts";
import type { ListenOptions, RunningServer, ServerAdapter } from "./adapter.ts";
import { incomingClientAddress, listenHttps, peerCertificate } from "./https.ts";
import { incomingFramingProblem } from "./node-framing.ts";
import { listenNodePlain } from "./node-listen.ts";

const Deno = (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno;

/**
 * What Deno's node:tls offers, as listener and as client, whatever `ciphers` says (measured with
 * Deno 2.9: openssl s_client against the listener, openssl s_server's shared-cipher list for the
 * client): ECDHE with AES-GCM or ChaCha20-Poly1305 and the TLS 1.3 suites, the same as Portico's
 * defaults.
 */
const RUSTLS_SUITES: readonly string[] = [
  "TLS_AES_256_GCM_SHA384",
  "TLS_AES_128_GCM_SHA256",
  "TLS_CHACHA20_POLY1305_SHA256",
  "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
  "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
  "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
  "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
  "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/**
 * Deno serves both ports through its node:http (and node:tls for HTTPS), like Node. Deno.serve is
 * faster but has no request-head or keep-alive timeout and answers HTTP/2 cleartext on a plain port
 * that nobody configured for it, so a client could hold connections open forever or reach the
 * gateway through a protocol it does not route; see docs/runtimes.md. HTTPS keeps Deno's fixed
 * protocol limits (TLS 1.2 and 1.3, its own suites), which the capabilities say.
 */
export const denoAdapter: ServerAdapter = {
  runtime: "deno",
  version: Deno.version.deno,
  capabilities: {
    // Deno's node:tls ignores `ciphers` and `minVersion` on both sides but honours `maxVersion` as a
    // client; its TLS library (rustls) offers only RUSTLS_SUITES.
    tls: { minVersions: ["TLSv1.2"], restrictTls12Suites: false, restrictTls13Suites: false, capAtTls12: false, ownSuites: RUSTLS_SUITES },
    // setTicketKeys does nothing in Deno: rustls rotates its own key (docs/tls.md).
    ticketKeys: "runtime",
    upstreamTls: { restrictTls12Suites: false, restrictTls13Suites: false, capAtTls12: true, ownSuites: RUSTLS_SUITES },
    headerTimeout: { kind: "any" },
    maxKeepAliveMs: 2 ** 31 - 1,
    absoluteFormAuthority: true,
    dropsPipelinedConnections: false,
    // Measured with Deno 2.9.6: a node:http2 server whose answers wait on HTTP/1.1 client I/O (the
    // backend call) aborts the process in nghttp2 or the allocator under h2load -c4 -m25, within a
    // few thousand requests; one connection, or a server answering at once, survives.
    http2ServerUnavailable:
      "Deno's node:http2 server crashes the process (nghttp2 assertion, heap corruption) when several HTTP/2 connections wait on backend calls; Deno.serve cannot serve the TLS listener's SNI and client certificates",
  },
  listen({ port, hostname, handler, tls, timeouts, proxyProtocol, http2 }: ListenOptions): Promise<RunningServer> {
    if (tls) return listenHttps(port, hostname, handler, tls, { timeouts, http2 });
    return listenNodePlain(handler, port, hostname, timeouts, proxyProtocol, http2);
  },
  clientAddress(_request: Request, env: unknown): string {
    return incomingClientAddress(env);
  },
  rawFramingProblem: incomingFramingProblem,
  peerCertificate,
  createFetch: ({ ca, proxy }) => fetchTrusting(ca, proxy),
  // Bodies stay UpstreamBodies until read as web streams: the node:http listener writes them out directly.
  createUpstreamClient: (limits, options) => undiciUpstream(limits, { ...options, nodeBodies: true }),
};
