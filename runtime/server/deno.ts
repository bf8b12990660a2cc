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
    tls: { minVersions: ["TLSv1.2"], restrictTls12Suites: false, restrictTls13Suites: false, capAtTls12: false },
    upstreamTls: { restrictTls12Suites: true, restrictTls13Suites: false, capAtTls12: true },
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
