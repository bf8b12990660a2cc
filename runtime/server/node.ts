import { fetchTrusting } from "../upstream/undici-fetch.ts";
import { undiciUpstream } from "../upstream/undici.ts";
import type { ListenOptions, RunningServer, ServerAdapter } from "./adapter.ts";
import { incomingClientAddress, listenHttps, peerCertificate } from "./https.ts";
import { incomingFramingProblem } from "./node-framing.ts";
import { listenNodePlain } from "./node-listen.ts";
import { TICKET_KEY_ROTATION_MS } from "../tls/session-tickets.ts";

/** Node's http server through @hono/node-server; backends are called with undici. */
export const nodeAdapter: ServerAdapter = {
  runtime: "node",
  version: process.versions.node,
  capabilities: {
    tls: { minVersions: ["TLSv1.2", "TLSv1.3"], restrictTls12Suites: true, restrictTls13Suites: true, capAtTls12: true },
    // Node never rotates the key itself: Portico does (listenHttps, TICKET_KEY_ROTATION_MS).
    ticketKeys: "portico",
    upstreamTls: { restrictTls12Suites: true, restrictTls13Suites: true, capAtTls12: true },
    headerTimeout: { kind: "any" },
    maxKeepAliveMs: 2 ** 31 - 1,
    absoluteFormAuthority: true,
    dropsPipelinedConnections: false,
  },
  listen({ port, hostname, handler, tls, timeouts, proxyProtocol, http2 }: ListenOptions): Promise<RunningServer> {
    if (tls) return listenHttps(port, hostname, handler, tls, { ticketKeyRotationMs: TICKET_KEY_ROTATION_MS, timeouts, http2 });
    return listenNodePlain(handler, port, hostname, timeouts, proxyProtocol, http2);
  },
  rawFramingProblem: incomingFramingProblem,
  clientAddress(_request: Request, env: unknown): string {
    return incomingClientAddress(env);
  },
  peerCertificate,
  createFetch: ({ ca, proxy }) => fetchTrusting(ca, proxy),
  // Bodies stay UpstreamBodies until read as web streams: Node's listener writes them out directly.
  createUpstreamClient: (limits, options) => undiciUpstream(limits, { ...options, nodeBodies: true }),
};
