import { Hono } from "hono";
import type { BodyGuard, WatchedBody } from "../http/body-guard.ts";
import { HttpProblem } from "../http/problem.ts";
import { framingProblem } from "../http/framing.ts";
import { type EncodedSeparators, isValidAuthority, requestTarget } from "../http/target.ts";
import type { Logger } from "../observability/log.ts";
import type { GatewayMetrics } from "../observability/metrics.ts";
import type { PipelineHolder } from "../pipeline/pipeline.ts";
import type { BodyBuffers } from "../policy/body.ts";
import type { PolicyStateStore } from "../policy/state.ts";
import { forward } from "../proxy/proxy.ts";
import { type Caller, presentedKey } from "../access/subscriptions.ts";
import type { ServerAdapter } from "../server/adapter.ts";
import { incomingOf } from "../server/node-listen.ts";
import type { CertificateSet } from "../tls/certificates.ts";
import { ClientCertificate } from "../tls/client-certificate.ts";
import { hasNoBody, type UpstreamClient } from "../upstream/client.ts";

/**
 * The APIM-compatible probe on the traffic port: 200 while serving a configuration, else 503. The
 * one definition: `portico health` asks it and the quickstart prints it; the Containerfile's
 * comment, which cannot import it, is checked against it (deploy/containerfile_test.ts).
 */
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
  /** The cap on bodies buffered for policies, shared by every listener of the process. */
  readonly buffers?: BodyBuffers;
  /** The gateway's policy state store (counters, cache, concurrency slots). */
  readonly state: PolicyStateStore;
  /** Guards request bodies against slow clients. */
  readonly bodies: BodyGuard;
  /** The listener's keep-alive timeout: requests to backends allowed longer ask the listener to hold on. */
  readonly keepAliveMs: number;
  /** What encoded slashes and backslashes in paths mean (`net.server.path.encoded-separators`). */
  readonly separators: EncodedSeparators;
}

/** Methods whose repetition does no harm (RFC 9110 §9.2.2). */
function isIdempotent(method: string): boolean {
  return method === "GET" || method === "HEAD" || method === "OPTIONS" || method === "PUT" || method === "DELETE" || method === "TRACE";
}

/** The response with `Connection: close`, so the runtime closes the connection once it is sent. */
function closing(response: Response): Response {
  try {
    response.headers.set("connection", "close");
    return response;
  } catch {
    // Headers of a response from `fetch` are immutable: copy them.
    const headers = new Headers(response.headers);
    headers.set("connection", "close");
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }
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
  const { holder, adapter, upstream, logger, metrics, proto, bodies, buffers, state, keepAliveMs, separators } = deps;
  const reporting = { logger, metrics, bodies: buffers };

  async function handle(request: Request, env: unknown): Promise<Response> {
    const started = performance.now();
    const pipeline = holder.current;
    let api: string | undefined;
    let operation: string | undefined;
    let response: Response;
    let clientBody: WatchedBody | undefined;
    let refused = false;
    let raisedIdle = false;
    const { path, search, authority, encodedSeparator } = requestTarget(request.url, separators);
    // The pipeline is read once: a swap during this request does not affect it, and the replaced
    // pipeline's policy instances are closed only after every request that entered it has left.
    pipeline?.enter();
    try {
      if (!pipeline) throw new HttpProblem("not-ready");
      const malformed = framingProblem(request.headers) ?? adapter.rawFramingProblem?.(env);
      if (malformed) {
        refused = true;
        throw new HttpProblem("bad-request", { detail: malformed });
      }
      // The target's authority (absolute form), else Host: what the request names, and what is routed.
      if (!isValidAuthority(authority)) {
        refused = true;
        throw new HttpProblem("bad-request", { detail: "The Host header must be a host name or address with an optional port." });
      }
      if (encodedSeparator && separators === "reject") {
        throw new HttpProblem("bad-request", { detail: "Encoded slashes and backslashes are not allowed in the path." });
      }
      const route = pipeline.router.match(authority, request.method, path);
      if ("miss" in route) {
        throw route.miss === "no-route" ? new HttpProblem("no-route") : new HttpProblem("method-not-allowed", { headers: { allow: route.allow.join(", ") } });
      }
      api = route.api.name;
      operation = route.operation?.name;
      const target = route.api.target;
      // The subscription key (docs/consumers.md): who calls, and through which product.
      let caller: Caller | undefined;
      let forwardedSearch = search;
      let keyHeader: string | undefined;
      if (pipeline.checksKeys) {
        const presented = presentedKey(target.api, request.headers, search);
        forwardedSearch = presented.search;
        if (presented.key !== undefined && request.headers.has(target.api.access.header)) keyHeader = target.api.access.header;
        caller = pipeline.keys.check(target.api, presented.key, Date.now());
      }
      const product = caller?.product;
      const chains = route.operation
        ? ((product && target.operationProductChains[route.operation.index]!.get(product)) || target.operationChains[route.operation.index]!)
        : ((product && target.productChains.get(product)) || target.chains);
      if (!hasNoBody(request.method)) clientBody = bodies.watch(request, incomingOf(env), started);
      if (adapter.connectionDropped && !isIdempotent(request.method) && (await adapter.connectionDropped(request, env))) {
        // The runtime dropped the connection (a request pipelined behind this one): nobody could get the answer.
        throw new HttpProblem("bad-request", { internal: "connection dropped by the runtime before the request was forwarded" });
      }
      if (pipeline.longestTimeoutMs > keepAliveMs && adapter.setIdleTimeout) {
        adapter.setIdleTimeout(request, env, pipeline.longestTimeoutMs);
        raisedIdle = true;
      }
      response = await forward(upstream, reporting, {
        request,
        clientBody,
        backend: target.backend,
        rest: route.rest,
        search: forwardedSearch,
        path,
        client: { ip: plainIp(adapter.clientAddress(request, env)), proto, host: authority },
        chains,
        caller,
        dropHeader: keyHeader,
        params: route.params,
        api,
        operation,
        backends: pipeline.backends,
        urlBackends: pipeline.urlBackends,
        state,
        clientCertificate: proto === "https" ? negotiatedCertificate(adapter, env, pipeline.certificates) : undefined,
      });
    } catch (error) {
      response = problemFor(error, logger, path);
    } finally {
      pipeline?.leave();
      if (raisedIdle) adapter.setIdleTimeout!(request, env, keepAliveMs);
    }
    // A request refused for its framing, or whose body was not (or not wholly) read, leaves the
    // connection in a state nobody can trust or wait for: it is closed once the answer is sent.
    if (clientBody) {
      clientBody.release();
      if (!clientBody.finished) response = closing(response);
    } else if (refused) response = closing(response);
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
