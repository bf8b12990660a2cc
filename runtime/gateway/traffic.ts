import { Hono } from "hono";
import { HttpProblem } from "../http/problem.ts";
import { framingProblem } from "../http/framing.ts";
import { requestTarget } from "../http/target.ts";
import type { Logger } from "../observability/log.ts";
import type { GatewayMetrics } from "../observability/metrics.ts";
import type { PipelineHolder } from "../pipeline/pipeline.ts";
import { forward } from "../proxy/proxy.ts";
import type { ServerAdapter } from "../server/adapter.ts";
import type { CertificateSet } from "../tls/certificates.ts";
import { ClientCertificate } from "../tls/client-certificate.ts";
import type { UpstreamClient } from "../upstream/client.ts";

/** The APIM-compatible probe on the traffic port: 200 while serving a configuration, else 503. */
export const STATUS_PATH = "/status-0123456789abcdef";

/** What the traffic app needs from the rest of the gateway. */
export interface TrafficDeps {
  readonly holder: PipelineHolder;
  readonly adapter: ServerAdapter;
  readonly upstream: UpstreamClient;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** Protocol of the listener this app serves: `http` or `https`. */
  readonly proto: "http" | "https";
}

/** Normalises IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) to plain IPv4. */
function plainIp(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/**
 * The Hono application of the traffic port: the status probe, then every other request routed
 * through the live pipeline to its backend. Gateway errors become problem+json; every response is
 * counted and (when enabled) logged.
 */
export function trafficApp(deps: TrafficDeps): Hono {
  const { holder, adapter, upstream, logger, metrics, proto } = deps;
  const reporting = { logger, metrics };

  async function handle(request: Request, env: unknown): Promise<Response> {
    const started = performance.now();
    const pipeline = holder.current;
    let api: string | undefined;
    let operation: string | undefined;
    let response: Response;
    const { path, search } = requestTarget(request.url);
    // The pipeline is read once: a swap during this request does not affect it, and the replaced
    // pipeline's policy instances are closed only after every request that entered it has left.
    pipeline?.enter();
    try {
      if (!pipeline) throw new HttpProblem("not-ready");
      const malformed = framingProblem(request.headers);
      if (malformed) throw new HttpProblem("bad-request", { detail: malformed });
      const route = pipeline.router.match(request.headers.get("host"), request.method, path);
      if ("miss" in route) {
        throw route.miss === "no-route"
          ? new HttpProblem("no-route")
          : new HttpProblem("method-not-allowed", { headers: { allow: route.allow.join(", ") } });
      }
      api = route.api.name;
      operation = route.operation?.name;
      const target = route.api.target;
      response = await forward(upstream, reporting, {
        request,
        env,
        backend: target.backend,
        rest: route.rest,
        search,
        path,
        client: { ip: plainIp(adapter.clientAddress(request, env)), proto },
        chains: route.operation ? target.operationChains[route.operation.index]! : target.chains,
        params: route.params,
        api,
        operation,
        backends: pipeline.backends,
        clientCertificate: proto === "https" ? negotiatedCertificate(adapter, env, pipeline.certificates) : undefined,
      });
    } catch (error) {
      response = problemFor(error, logger, path);
    } finally {
      pipeline?.leave();
    }
    metrics.countResponse(response.status);
    if (logger.format !== "none") {
      logger.access({
        method: request.method,
        path,
        status: response.status,
        ms: Math.round((performance.now() - started) * 1000) / 1000,
        api,
        operation,
        revision: pipeline?.revision,
      });
    }
    return response;
  }

  const app = new Hono();
  app.get(STATUS_PATH, () => (holder.current ? new Response("OK\n", { status: 200 }) : new HttpProblem("not-ready").toResponse()));
  app.all("*", (c) => handle(c.req.raw, c.env));
  app.onError((error) => problemFor(error, logger, undefined));
  return app;
}

/**
 * The certificate the client presented, on a host name (by SNI) that negotiates client certificates;
 * undefined elsewhere, so a certificate sent to another host name is never shown to policies.
 */
function negotiatedCertificate(adapter: ServerAdapter, env: unknown, certificates: CertificateSet | undefined): ClientCertificate | undefined {
  if (!certificates?.negotiates) return undefined;
  const peer = adapter.peerCertificate(env);
  const entry = certificates.find(peer.servername);
  return entry.negotiate && peer.der ? new ClientCertificate(peer.der, peer.chain, entry.clientCas) : undefined;
}

function problemFor(error: unknown, logger: Logger, path: string | undefined): Response {
  if (error instanceof HttpProblem) {
    if (error.status >= 500) logger.warn(error.message, { problem: error.kind, path });
    return error.toResponse();
  }
  logger.error("unhandled error while handling a request", { path, error: error instanceof Error ? error.stack : String(error) });
  return new HttpProblem("internal").toResponse();
}
