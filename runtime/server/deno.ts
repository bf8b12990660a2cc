import { fetchTrusting } from "../upstream/undici-fetch.ts";
import { undiciUpstream } from "../upstream/undici.ts";
import type { ListenOptions, RunningServer, ServerAdapter } from "./adapter.ts";
import { incomingClientAddress, listenHttps, peerCertificate } from "./https.ts";
import { incomingFramingProblem } from "./node-framing.ts";
import { listenNodeServer, nodeHttpServer } from "./node-listen.ts";

const Deno = (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno;

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
    streamingRequestBodies: true,
    upstreamClient: "undici",
    tls: { minVersions: ["TLSv1.2"], restrictTls12Suites: false, restrictTls13Suites: false, capAtTls12: false },
    upstreamTls: { restrictTls12Suites: true, restrictTls13Suites: false, capAtTls12: true },
    headerTimeout: { kind: "any" },
    maxKeepAliveMs: 2 ** 31 - 1,
    absoluteFormAuthority: true,
    dropsPipelinedConnections: false,
  },
  async listen({ port, hostname, handler, tls, timeouts }: ListenOptions): Promise<RunningServer> {
    if (tls) return listenHttps(port, hostname, handler, tls, timeouts);
    return listenNodeServer(nodeHttpServer(handler, timeouts), port, hostname);
  },
  clientAddress(_request: Request, env: unknown): string {
    return incomingClientAddress(env);
  },
  rawFramingProblem: incomingFramingProblem,
  peerCertificate,
  createFetch: ({ ca }) => fetchTrusting(ca),
  createUpstreamClient: undiciUpstream,
};
