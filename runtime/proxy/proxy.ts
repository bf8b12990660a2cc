import type { WatchedBody } from "../http/body-guard.ts";
import { HttpProblem, PROBLEMS } from "../http/problem.ts";
import type { BackendPool, UrlBackends } from "../pipeline/backend.ts";
import type { ClientCertificate } from "../tls/client-certificate.ts";
import { type UpstreamClient, UpstreamTimeout } from "../upstream/client.ts";
import type { RequestRecord } from "../observability/request-record.ts";
import { upstreamErrorCause } from "../observability/request-metrics.ts";
import type { Chains } from "../pipeline/pipeline.ts";
import type { Caller } from "../access/subscriptions.ts";
import { applyDeferred, type PolicyExchange } from "../policy/abi.ts";
import { chosenBackend, exchangeFor, replyResponse } from "./exchange.ts";
import type { PolicyChain, PolicyReporting } from "../policy/chain.ts";
import { countRequestBytes, countResponseBytes } from "../policy/byte-meters.ts";
import type { PolicyStateStore } from "../policy/state.ts";
import { type ClientFacts, clientResponseHeaders, editableResponseHeaders, responseIsEndToEnd, upstreamRequestHeaders } from "./headers.ts";
import { describeError } from "../../config/schema/problems.ts";
import { mayRetryMethod, retriesOnProblem, retryDelayMs, type RetryPlan } from "../policy/retry.ts";
import { MAX_BUFFERED_BODY, MAX_REDIRECTS } from "../policy/forward-request.ts";
import { loadBody, upstreamBodyOf } from "../policy/body.ts";
import { NodeBodyResponse } from "../upstream/node-body.ts";
import { HeaderFields, type OutgoingHeaders, rawHeaderList } from "../upstream/header-fields.ts";

/** Everything the proxy needs to forward one request. */
export interface ForwardRequest {
  readonly request: Request;
  /** The client's body as it arrives, guarded against slow clients; undefined without one. */
  readonly clientBody: WatchedBody | undefined;
  readonly backend: BackendPool;
  /** The path after the API prefix, as received. */
  readonly rest: string;
  /** The query string including "?", or "". */
  readonly search: string;
  /** The routed path, as policies see it. */
  readonly path: string;
  readonly client: ClientFacts;
  /** The policies around this operation (through the caller's product, if it has policies). */
  readonly chains: Chains;
  /** The subscription and product the request is made under; undefined when keys are not checked. */
  readonly caller?: Caller;
  /** A request header not to forward (the subscription key's), lower case. */
  readonly dropHeader?: string;
  /** Route parameters of the matched operation, for policies. */
  readonly params?: Readonly<Record<string, string>>;
  /** Names of the matched API and operation, for policies. */
  readonly api?: string;
  readonly operation?: string;
  /** The configuration's backends, which a policy may switch to (set-backend-service). */
  readonly backends?: ReadonlyMap<string, BackendPool>;
  /** Pools for base URLs a policy names instead (set-backend-service `base-url`), kept by the pipeline. */
  readonly urlBackends?: UrlBackends;
  /** The gateway's policy state store, for the exchange's policies. */
  readonly state?: PolicyStateStore;
  /** The client's certificate, on host names that negotiate one (validate-client-certificate). */
  readonly clientCertificate?: ClientCertificate;
  /** Where the backend call is reported (backend, duration, failure) for metrics, traces and the access line. */
  readonly record?: RequestRecord;
  /**
   * The client's header fields as a node:http listener parsed them (`rawHeaders` of an HTTP/1
   * request), when one did: where no policy sees the request and the client takes a record, the
   * backend's headers are built from these without web Headers (header-fields.ts, rawHeaderList).
   */
  readonly rawHeaders?: readonly string[];
}

/**
 * Runs the operation's request policies, forwards the request to its backend (unless a policy
 * answered), runs the response policies, and returns the response with a streaming body.
 * An unreachable backend becomes 502 and a backend that sends no headers within its timeout 504,
 * both as HttpProblem; the timeout stops counting once headers arrive, so long downloads are not cut.
 * A client body cut off for slowness becomes 408. A backend at its concurrency limit is not called (503).
 * Concurrency slots that policies took are given back when the response headers are ready.
 */
export async function forward(upstream: UpstreamClient, reporting: PolicyReporting, forwarded: ForwardRequest): Promise<Response> {
  const { request, client, chains } = forwarded;
  // Only operations with policies pay for an exchange; outbound policies see the request as sent too.
  if (!chains.request.length && !chains.response.length && !chains.error.length) {
    // No policy sees these headers: a client that sends a record gets one, read from the fields as
    // parsed where the listener has them (header-fields.ts).
    const fields = upstream.headerFields
      ? upstreamRequestHeaders((forwarded.rawHeaders && rawHeaderList(forwarded.rawHeaders)) || request.headers, client, new HeaderFields())
      : upstreamRequestHeaders(request.headers, client, new Headers());
    if (forwarded.dropHeader) fields.delete(forwarded.dropHeader);
    return send(upstream, forwarded, fields, forwarded.backend, forwarded.rest, forwarded.search);
  }
  const headers = upstreamRequestHeaders(request.headers, client);
  if (forwarded.dropHeader) headers.delete(forwarded.dropHeader);
  const exchange = exchangeFor(forwarded, headers, reporting);
  // A policy that reads the response body gets it as the bytes, not compressed.
  if (chains.response.readsBody) headers.set("accept-encoding", "identity");
  const response = await exchangeThrough(upstream, reporting, forwarded, exchange, headers);
  // Bandwidth quotas: the bytes of the answer the client gets, whoever made it, as they stream.
  return exchange.meters ? countResponseBytes(exchange, response) : response;
}

/** Runs the exchange's chains around the backend call (see `forward`). */
async function exchangeThrough(
  upstream: UpstreamClient,
  reporting: PolicyReporting,
  forwarded: ForwardRequest,
  exchange: PolicyExchange,
  headers: Headers,
): Promise<Response> {
  const { request, chains } = forwarded;
  let section: "inbound" | "backend" | "outbound" = "inbound";
  try {
    if (chains.request.length) {
      // Awaited only when a step has to wait: a chain of policies in service runs synchronously.
      const inbound = chains.request.run(exchange, reporting);
      if (inbound) await inbound;
      forwarded.record?.trace?.event("policies.inbound");
      if (exchange.meters) countRequestBytes(exchange, forwarded.clientBody);
      // A policy answered (return-response, check-header, ...): the backend is not called.
      if (exchange.reply) return replyResponse(exchange.reply, exchange.deferred);
    }
    section = "backend";
    const backend = chosenBackend(exchange, forwarded.backends, forwarded.urlBackends, forwarded.backend);
    const response = exchange.retry === undefined && exchange.forwarding === undefined
      ? await send(upstream, forwarded, headers, backend, exchange.rest!, exchange.search!, exchange.requestBody)
      : await sendAsInstructed(upstream, reporting, forwarded, exchange, headers, backend);
    exchange.status = response.status;
    section = "outbound";
    if (chains.response.length) {
      const answered = await respondThrough(chains.response, exchange, request, response, reporting);
      forwarded.record?.trace?.event("policies.outbound");
      return answered;
    }
    if (!exchange.deferred) return response;
    const changed = new Headers(response.headers);
    applyDeferred(changed, exchange.deferred);
    return withOtherHeaders(request, response, changed);
  } catch (error) {
    if (!chains.error.length || !(error instanceof HttpProblem)) throw error;
    return await answerError(chains.error, exchange, error, section, reporting);
  } finally {
    if (exchange.releases) { for (const release of exchange.releases) release(); }
  }
}

/**
 * Runs the on-error section on the gateway's own error answer (APIM's on-error): policies see what
 * failed (`portico_last_error`), may change its headers or answer instead (return-response). If an
 * on-error policy fails in turn, the original error answer goes out.
 */
async function answerError(
  chain: PolicyChain,
  exchange: PolicyExchange,
  problem: HttpProblem,
  section: "inbound" | "backend" | "outbound",
  reporting: PolicyReporting,
): Promise<Response> {
  const original = problem.toResponse(exchange.traceId);
  exchange.lastError = {
    source: section,
    reason: problem.kind,
    message: problem.detail ?? PROBLEMS[problem.kind].title,
    status: String(problem.status),
    policy: problem.kind === "policy-failed" ? (exchange.policy ?? "") : "",
  };
  exchange.reply = undefined;
  exchange.status = problem.status;
  exchange.responseHeaders = new Headers(original.headers);
  try {
    await chain.run(exchange, reporting);
  } catch (error) {
    reporting.logger.error("an on-error policy failed; the original error answer is sent", { reason: describeError(error) });
    return original;
  }
  if (exchange.reply) return replyResponse(exchange.reply, undefined);
  return new Response(original.body, { status: original.status, headers: exchange.responseHeaders });
}

/**
 * Sends the request to a backend and returns its response, untouched when it carries only
 * end-to-end headers. The backend's concurrency place is held until the response headers are in
 * and the client's body has gone through (or failed). A backend with a circuit breaker is not
 * called while it is open (503 backend-circuit-open), and each call's outcome is counted in it.
 * `timeoutMs` and `url` replace the backend's timeout and next URL (forward-request, redirects).
 */
async function send(
  upstream: UpstreamClient,
  forwarded: ForwardRequest,
  headers: OutgoingHeaders,
  backend: BackendPool,
  rest: string,
  search: string,
  body?: Uint8Array<ArrayBuffer>,
  timeoutMs = backend.timeoutMs,
  target?: string,
): Promise<Response> {
  const { request } = forwarded;
  // A policy buffered (and maybe replaced) the body: it goes as one piece with its own length.
  const clientBody = body ? undefined : forwarded.clientBody;
  if (body) {
    headers.delete("transfer-encoding");
    headers.set("content-length", String(body.length));
  }
  const breaker = backend.breaker;
  // Throws while the breaker is open; `probe`: this call decides whether a half-open breaker closes.
  const probe = breaker === undefined ? false : breaker.admit();
  const waiting = backend.gate.enter();
  if (waiting) {
    if (breaker === undefined) await waiting;
    else {
      await waiting.catch((error: unknown) => {
        breaker.abandon(probe);
        throw error;
      });
    }
  }
  const url = target ?? backend.target(rest, search);
  const record = forwarded.record;
  const trace = record?.trace;
  if (record) {
    record.backend = backend.name;
    const origin = backend.origin(url);
    record.backendHost = origin.host;
    if (trace) trace.startBackend(request.method, backend.name, origin, headers);
  }
  const called = performance.now();
  let response: Response;
  try {
    response = await upstream.send({ url, method: request.method, headers, clientBody, timeoutMs, tls: backend.tls, body, http2: backend.http2 });
  } catch (error) {
    backend.gate.leave();
    if (!clientBody?.failure) backend.observe(url, undefined);
    if (record || breaker) {
      // A client body cut off for slowness is the client's failure, not the backend's.
      const cause = clientBody?.failure ? "client-body" : error instanceof UpstreamTimeout ? "timeout" : upstreamErrorCause(error);
      if (breaker) {
        if (cause === "client-body") breaker.abandon(probe);
        else breaker.failed(probe, cause);
      }
      if (cause !== "client-body" && record) record.upstreamError = cause;
      trace?.endBackend(undefined, cause);
    }
    if (clientBody?.failure) {
      throw new HttpProblem("request-timeout", {
        detail: clientBody.failure.message,
        internal: `request body to backend "${backend.name}" cut off: ${clientBody.failure.reason}`,
      });
    }
    // Logs name the backend and its origin, never the path or query, which may carry secrets.
    const origin = new URL(url).origin;
    if (error instanceof UpstreamTimeout) {
      throw new HttpProblem("backend-timeout", { internal: `backend "${backend.name}" (${origin}) sent no response headers within ${timeoutMs} ms` });
    }
    throw new HttpProblem("backend-unreachable", { internal: `backend "${backend.name}" (${origin}) could not be reached: ${describe(error)}`, cause: error });
  }
  backend.observe(url, response.status);
  if (record) {
    record.backendMs = performance.now() - called;
    trace?.endBackend(response.status);
  }
  if (breaker) breaker.respond(probe, response.status, response.headers);
  if (clientBody && !clientBody.settled) clientBody.onSettled(() => backend.gate.leave());
  else backend.gate.leave();
  // Most backends send only end-to-end headers: pass their response on untouched (no copy).
  if (responseIsEndToEnd(response)) return response;
  return new Response(request.method === "HEAD" ? null : response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: clientResponseHeaders(response.headers),
  });
}

/** Statuses `follow-redirects` follows. */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * The backend call as the retry and forward-request policies asked (docs/resilience.md): each
 * attempt is a `send` (so it passes the circuit breaker and the concurrency gate), retried on the
 * plan's statuses and failures with its backoff while the method allows it and the body can be
 * sent again (no body, or one a policy buffered); a response that is not the last has its body
 * cancelled. Then redirects are followed, an error status becomes the `backend-error-status`
 * problem, and the response is buffered, as forward-request says.
 */
async function sendAsInstructed(
  upstream: UpstreamClient,
  reporting: PolicyReporting,
  forwarded: ForwardRequest,
  exchange: PolicyExchange,
  headers: Headers,
  backend: BackendPool,
): Promise<Response> {
  const { request } = forwarded;
  const plan = exchange.retry;
  const forwarding = exchange.forwarding;
  const body = exchange.requestBody;
  const timeoutMs = forwarding?.timeoutMs ?? backend.timeoutMs;
  const replayable = body !== undefined || forwarded.clientBody === undefined;
  const retries = plan && replayable && mayRetryMethod(plan, request.method) ? plan.count : 0;
  let response: Response;
  for (let attempt = 0;; attempt++) {
    try {
      response = await sendFollowing(upstream, forwarded, headers, backend, exchange, body, timeoutMs);
    } catch (error) {
      if (attempt < retries && error instanceof HttpProblem && retriesOnProblem(plan!, error)) {
        await retryWait(plan!, attempt + 1, backend.name);
        continue;
      }
      throw error;
    }
    if (attempt < retries && plan!.statusCodes.has(response.status)) {
      await response.body?.cancel().catch(() => {});
      await retryWait(plan!, attempt + 1, backend.name);
      continue;
    }
    break;
  }
  // Failed attempts before this answer were retried away: the call did not fail.
  if (retries > 0 && forwarded.record) forwarded.record.upstreamError = undefined;
  if (forwarding?.failOnErrorStatus && response.status >= 400) {
    await response.body?.cancel().catch(() => {});
    throw new HttpProblem("backend-error-status", {
      detail: `The backend answered ${response.status}.`,
      internal: `backend "${backend.name}" answered ${response.status} (forward-request fail-on-error-status-code)`,
    });
  }
  if (!forwarding?.bufferResponse) return response;
  exchange.upstreamBody = response.body;
  await loadBody(exchange, "response", MAX_BUFFERED_BODY, reporting.bodies);
  const buffered = new Headers(response.headers);
  buffered.delete("transfer-encoding");
  buffered.set("content-length", String(exchange.responseBody!.length));
  return new Response(request.method === "HEAD" ? null : exchange.responseBody!, {
    status: response.status,
    statusText: response.statusText,
    headers: buffered,
  });
}

/** Waits before retry number `retry` (APIM's backoff), counting it. */
function retryWait(plan: RetryPlan, retry: number, backend: string): Promise<void> {
  plan.counted(backend);
  const ms = retryDelayMs(plan, retry);
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** One attempt: a `send`, then its same-origin redirects when forward-request follows them (GET and HEAD only). */
async function sendFollowing(
  upstream: UpstreamClient,
  forwarded: ForwardRequest,
  headers: Headers,
  backend: BackendPool,
  exchange: PolicyExchange,
  body: Uint8Array<ArrayBuffer> | undefined,
  timeoutMs: number,
): Promise<Response> {
  const method = forwarded.request.method;
  if (!exchange.forwarding?.followRedirects || (method !== "GET" && method !== "HEAD")) {
    return send(upstream, forwarded, headers, backend, exchange.rest!, exchange.search!, body, timeoutMs);
  }
  let url = backend.target(exchange.rest!, exchange.search!);
  let response = await send(upstream, forwarded, headers, backend, "", "", body, timeoutMs, url);
  for (let hop = 0; hop < MAX_REDIRECTS && REDIRECTS.has(response.status); hop++) {
    const location = response.headers.get("location");
    if (!location) break;
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      break;
    }
    // Only to the backend's own origin: a backend cannot send the gateway's credentials elsewhere.
    if (next.origin !== new URL(url).origin) break;
    await response.body?.cancel().catch(() => {});
    url = next.href;
    response = await send(upstream, forwarded, headers, backend, "", "", body, timeoutMs, url);
  }
  return response;
}

/**
 * Runs the outbound chain on a mutable copy of the response headers (with the changes inbound
 * policies recorded for the response already applied); the body still streams, through whatever
 * stream a policy put in its place (`exchange.upstreamBody`: cache-store copies it aside as it goes).
 */
async function respondThrough(
  chain: PolicyChain,
  exchange: PolicyExchange,
  request: Request,
  response: Response,
  reporting: PolicyReporting,
): Promise<Response> {
  const responseHeaders = editableResponseHeaders(response);
  if (exchange.deferred) applyDeferred(responseHeaders, exchange.deferred);
  exchange.responseHeaders = responseHeaders;
  // The body is taken out of the response only when something asks for it (upstreamBodyOf).
  exchange.upstreamBody = undefined;
  exchange.upstreamResponse = response;
  try {
    const outbound = chain.run(exchange, reporting);
    if (outbound) await outbound;
  } catch (error) {
    await upstreamBodyOf(exchange)?.cancel().catch(() => {});
    throw error;
  }
  if (exchange.reply) {
    await upstreamBodyOf(exchange)?.cancel().catch(() => {});
    return replyResponse(exchange.reply, exchange.deferred);
  }
  if (exchange.responseBody !== undefined) {
    responseHeaders.delete("transfer-encoding");
    responseHeaders.set("content-length", String(exchange.responseBody.length));
    return new Response(request.method === "HEAD" ? null : exchange.responseBody, {
      status: response.status,
      statusText: response.statusText,
      headers: responseHeaders,
    });
  }
  if (exchange.upstreamResponse === response) {
    // Nobody took the body, and the policies edited the response's own headers: it goes on as it is.
    if (responseHeaders === response.headers) return response;
    return withOtherHeaders(request, response, responseHeaders);
  }
  return new Response(request.method === "HEAD" ? null : (upstreamBodyOf(exchange) ?? null), {
    status: response.status,
    statusText: response.statusText,
    headers: responseHeaders,
  });
}

/**
 * The backend's response, body untouched, with `headers` instead of its own. A body that is still
 * as undici's dispatcher delivered it (a NodeBodyResponse: Node and Deno) stays so, and the Node listener writes
 * it directly: made into a web stream, it cost a Node gateway with outbound policies about 20 µs a
 * request (CPU profile, bench/RESULTS.md 2026-12-04 12:30).
 */
function withOtherHeaders(request: Request, response: Response, headers: Headers): Response {
  const init = { status: response.status, statusText: response.statusText, headers };
  if (request.method === "HEAD") return new Response(null, init);
  const body = response instanceof NodeBodyResponse ? response.takeBody() : undefined;
  return body ? new NodeBodyResponse(body, init) : new Response(response.body, init);
}

/** The response a policy made, with response header changes inbound policies recorded; statuses that carry no body get none. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}
