import { Hono } from "hono";
import type { BodyGuard, WatchedBody } from "../http/body-guard.ts";
import { HttpProblem } from "../http/problem.ts";
import { framingProblem } from "../http/framing.ts";
import type { TrustedProxies } from "../http/forwarded.ts";
import { type EncodedSeparators, isValidAuthority, requestTarget } from "../http/target.ts";
import type { Logger } from "../observability/log.ts";
import type { GatewayMetrics } from "../observability/metrics.ts";
import { plainIp, RequestRecord, type RequestTelemetry } from "../observability/request-record.ts";
import type { TrafficSummary } from "../observability/summary.ts";
import type { PipelineHolder } from "../pipeline/pipeline.ts";
import type { BodyBuffers } from "../policy/body.ts";
import type { PolicyStateStore } from "../policy/state.ts";
import type { ClientFacts } from "../proxy/headers.ts";
import { forward } from "../proxy/proxy.ts";
import { type Caller, presentedKey } from "../access/subscriptions.ts";
import type { ServerAdapter } from "../server/adapter.ts";
import { incomingOf } from "../server/node-listen.ts";
import type { CertificateSet } from "../tls/certificates.ts";
import { ClientCertificate } from "../tls/client-certificate.ts";
import { hasNoBody, type UpstreamClient } from "../upstream/client.ts";
import { responseField } from "../upstream/node-body.ts";
import { isWebSocketUpgrade, upgradeAccepted, type WebSocketConnections } from "../websocket/connections.ts";
import { openWebSocket } from "../websocket/handshake.ts";

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
  /** Per-request metrics, traces and request ids (runtime/observability/request-record.ts). */
  readonly telemetry: RequestTelemetry;
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
  /** Per-API traffic for the control plane's fleet view (heartbeats); absent in standalone mode. */
  readonly summary?: TrafficSummary;
  /** The proxies whose forwarding headers name the client (docs/edge-networking.md); absent when none is trusted. */
  readonly trustedProxies?: TrustedProxies;
  /**
   * WebSocket handshakes are taken (runtime/websocket/): their inbound policies run, the backend is
   * asked, and an accepted one is left for the listener (the handler must be `takingWebSockets`).
   * Absent: `Upgrade` is dropped as a hop-by-hop header, as for any request.
   */
  readonly websockets?: WebSocketConnections;
}

/** Methods whose repetition does no harm (RFC 9110 §9.2.2). */
function isIdempotent(method: string): boolean {
  return method === "GET" || method === "HEAD" || method === "OPTIONS" || method === "PUT" || method === "DELETE" || method === "TRACE";
}

/** The response with `Connection: close`, so the runtime closes the connection once it is sent. */
function closing(response: Response): Response {
  return withHeader(response, "connection", "close");
}

/**
 * Whether the request came over HTTP/2 on a node:http2 listener: its stream is ended after the
 * response instead (runtime/server/http2.ts), and HTTP/2 has no Connection header.
 */
function overHttp2(env: unknown): boolean {
  return incomingOf(env)?.httpVersionMajor === 2;
}

/** The response with one header set; headers of a response from `fetch` are immutable, and are then copied. */
function withHeader(response: Response, name: string, value: string): Response {
  try {
    response.headers.set(name, value);
    return response;
  } catch {
    const headers = new Headers(response.headers);
    headers.set(name, value);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }
}

/** A body's declared length (Content-Length), or -1 when it is not declared (streamed, or no body). */
function declaredLength(headers: Headers): number {
  return lengthOf(headers.get("content-length"));
}

function lengthOf(value: string | null): number {
  return value === null ? -1 : Number(value);
}

/**
 * The handler of the traffic port: a Hono application (the status probe, then every other request
 * routed through the live pipeline to its backend) whose catch-all is called directly for most
 * requests. Gateway errors become problem+json; every response is counted and (when enabled) logged.
 */
export function trafficApp(deps: TrafficDeps): (request: Request, env: unknown) => Response | Promise<Response> {
  const { holder, adapter, upstream, logger, metrics, telemetry, proto, bodies, buffers, state, keepAliveMs, separators, summary, trustedProxies, websockets } =
    deps;
  const { requests, tracing } = telemetry;
  const traceHeader = tracing?.options.responseHeader;
  const reporting = { logger, metrics, bodies: buffers };

  async function handle(request: Request, env: unknown): Promise<Response> {
    const started = performance.now();
    const pipeline = holder.current;
    const record = new RequestRecord(request.method, telemetry.nextRequestId());
    const upgrade = websockets !== undefined && isWebSocketUpgrade(request);
    requests.active += 1;
    let response: Response;
    let clientBody: WatchedBody | undefined;
    let refused = false;
    let raisedIdle = false;
    const { path, search, authority, encodedSeparator } = requestTarget(request.url, separators);
    const peer = plainIp(adapter.clientAddress(request, env));
    // Behind trusted proxies the client (and, with proto.enabled, the scheme) comes from their headers.
    const client: ClientFacts = trustedProxies ? trustedProxies.client(peer, request.headers, proto, authority) : { ip: peer, proto, host: authority };
    const clientIp = client.ip;
    const scheme = client.proto;
    const trace = tracing?.start(request.method, request.headers, scheme, authority, path, clientIp);
    record.trace = trace;
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
      const api = route.api.name;
      const operation = route.operation?.name;
      record.api = api;
      record.operation = operation;
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
      record.product = product;
      record.subscription = caller?.subscription?.name;
      trace?.routed(request.method, api, operation, product);
      const chains = route.operation
        ? ((product && target.operationProductChains[route.operation.index]!.get(product)) || target.operationChains[route.operation.index]!)
        : ((product && target.productChains.get(product)) || target.chains);
      const incoming = incomingOf(env);
      if (!hasNoBody(request.method)) clientBody = bodies.watch(request, incoming, started);
      if (adapter.connectionDropped && !isIdempotent(request.method) && (await adapter.connectionDropped(request, env))) {
        // The runtime dropped the connection (a request pipelined behind this one): nobody could get the answer.
        throw new HttpProblem("bad-request", { internal: "connection dropped by the runtime before the request was forwarded" });
      }
      if (pipeline.longestTimeoutMs > keepAliveMs && adapter.setIdleTimeout) {
        adapter.setIdleTimeout(request, env, pipeline.longestTimeoutMs);
        raisedIdle = true;
      }
      const forwarded = {
        request,
        clientBody,
        backend: target.backend,
        rest: route.rest,
        search: forwardedSearch,
        path,
        client,
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
        record,
        // node:http's fields as parsed (HTTP/1; HTTP/2's carry pseudo-headers and split cookies).
        rawHeaders: incoming?.httpVersionMajor === 1 ? incoming.rawHeaders : undefined,
      };
      // A WebSocket handshake leaves the pipeline once answered: its connection is tracked by `websockets`.
      response = upgrade ? await openWebSocket(reporting, forwarded, websockets!.backends) : await forward(upstream, reporting, forwarded);
    } catch (error) {
      response = problemFor(error, logger, path, trace?.traceId);
    } finally {
      pipeline?.leave();
      if (raisedIdle) adapter.setIdleTimeout!(request, env, keepAliveMs);
    }
    // A request refused for its framing, or whose body was not (or not wholly) read, leaves the
    // connection in a state nobody can trust or wait for: it is closed once the answer is sent.
    if (clientBody) {
      clientBody.release();
      if (!clientBody.finished && !overHttp2(env)) response = closing(response);
    } else if (refused && !overHttp2(env)) response = closing(response);
    requests.active -= 1;
    record.status = upgrade && upgradeAccepted(request) ? 101 : response.status;
    record.totalMs = performance.now() - started;
    record.requestBytes = declaredLength(request.headers);
    record.responseBytes = lengthOf(responseField(response, "content-length"));
    requests.record(record);
    summary?.record(record.api, record.status, record.totalMs);
    if (record.upstreamError !== undefined) requests.upstreamFailed(record.backend!, record.upstreamError);
    if (trace) {
      trace.end(record.status);
      if (traceHeader) response = withHeader(response, traceHeader, trace.traceId);
    }
    if (logger.format !== "none") {
      logger.access(record.accessFields(clientIp, authority, scheme, path, pipeline?.appliedRevision));
    }
    return response;
  }

  const failed = (error: unknown) => problemFor(error, logger, undefined);
  const app = new Hono();
  app.get(STATUS_PATH, () => (holder.current ? new Response("OK\n", { status: 200 }) : new HttpProblem("not-ready").toResponse()));
  app.all("*", (c) => handle(c.req.raw, c.env));
  app.onError(failed);
  const dispatch = app.fetch;
  // Every request but the status probe is the catch-all's: it is called directly, without Hono's
  // path parsing, route match and context per request (about 2 µs of a Bun request; the CPU profile
  // is in bench/RESULTS.md, 2026-12-04 13:00). What Hono would treat apart goes through the app as
  // before: anything naming the status path, and HEAD (which Hono answers from the GET route without
  // a body).
  return (request, env) => request.method === "HEAD" || request.url.includes(STATUS_PATH) ? dispatch(request, env) : handle(request, env).catch(failed);
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

function problemFor(error: unknown, logger: Logger, path: string | undefined, traceId?: string): Response {
  if (error instanceof HttpProblem) {
    if (error.status >= 500) logger.warn(error.message, { problem: error.kind, path, traceId });
    return error.toResponse(traceId);
  }
  logger.error("unhandled error while handling a request", { path, traceId, error: error instanceof Error ? error.stack : String(error) });
  return new HttpProblem("internal").toResponse(traceId);
}
