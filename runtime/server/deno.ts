import { fetchTrusting } from "../upstream/undici-fetch.ts";
import { undiciUpstream } from "../upstream/undici.ts";
import type { ListenOptions, RunningServer, ServerAdapter } from "./adapter.ts";
import { incomingClientAddress, listenHttps, peerCertificate } from "./https.ts";

interface DenoServeInfo {
  remoteAddr: { hostname: string };
}
interface DenoHttpServer {
  finished: Promise<void>;
  shutdown(): Promise<void>;
}
interface DenoNamespace {
  version: { deno: string };
  serve(
    options: { port: number; hostname: string; onListen?: (addr: { port: number }) => void },
    handler: (request: Request, info: DenoServeInfo) => Response | Promise<Response>,
  ): DenoHttpServer & { addr: { port: number } };
}

const Deno = (globalThis as unknown as { Deno: DenoNamespace }).Deno;

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
 * Deno.serve (hyper underneath) for plain HTTP, where `env` is Deno's serve info with the remote
 * address. HTTPS uses Deno's node:tls and node:http, which pick certificates by SNI; they keep
 * Deno's fixed protocol limits (TLS 1.2 and 1.3, its own suites), which the capabilities say.
 */
export const denoAdapter: ServerAdapter = {
  runtime: "deno",
  version: Deno.version.deno,
  capabilities: {
    streamingRequestBodies: true,
    upstreamClient: "undici",
    // Deno's node:tls ignores `ciphers` and `minVersion` on both sides but honours `maxVersion` as a
    // client; its TLS library (rustls) offers only RUSTLS_SUITES.
    tls: { minVersions: ["TLSv1.2"], restrictTls12Suites: false, restrictTls13Suites: false, capAtTls12: false, ownSuites: RUSTLS_SUITES },
    // setTicketKeys does nothing in Deno: rustls rotates its own key (docs/tls.md).
    ticketKeys: "runtime",
    upstreamTls: { restrictTls12Suites: false, restrictTls13Suites: false, capAtTls12: true, ownSuites: RUSTLS_SUITES },
  },
  async listen({ port, hostname, handler, tls }: ListenOptions): Promise<RunningServer> {
    if (tls) return listenHttps(port, hostname, handler, tls);
    const server = Deno.serve({ port, hostname, onListen: () => {} }, handler);
    return {
      port: server.addr.port,
      close: async (force = false) => {
        if (force) {
          await Promise.race([server.shutdown(), Promise.resolve()]);
          return;
        }
        await server.shutdown();
      },
    };
  },
  clientAddress(_request: Request, env: unknown): string {
    // The HTTPS listener (node:tls and node:http) hands over `{ incoming, outgoing }`, Deno.serve its serve info.
    return "incoming" in (env as object) ? incomingClientAddress(env) : (env as DenoServeInfo).remoteAddr.hostname;
  },
  peerCertificate,
  createFetch: ({ ca }) => fetchTrusting(ca),
  createUpstreamClient: undiciUpstream,
};
