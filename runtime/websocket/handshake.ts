import { HttpProblem } from "../http/problem.ts";
import type { PolicyExchange } from "../policy/abi.ts";
import { chosenBackend, exchangeFor, replyResponse } from "../proxy/exchange.ts";
import type { PolicyReporting } from "../policy/chain.ts";
import { upstreamErrorCause } from "../observability/request-metrics.ts";
import { upstreamRequestHeaders } from "../proxy/headers.ts";
import type { ForwardRequest } from "../proxy/proxy.ts";
import { openBackend } from "./backend.ts";
import { acceptUpgrade, type WebSocketBackendOptions } from "./connections.ts";

/** The headers of an accepted handshake as the breaker sees them (it reads Retry-After only from refusals). */
const EMPTY_HEADERS = new Headers();

/**
 * Handles a WebSocket handshake (a GET with `Upgrade: websocket`) the way `forward` handles a
 * request, up to the backend's answer: the inbound policies run on it (keys were checked before;
 * validate-jwt, ip-filter, rate limits, header changes, set-backend-service, rewrite-uri...) and a
 * policy that answers answers the handshake. Then the backend connection is opened first, with the
 * client's `Sec-WebSocket-Protocol` and the forwarding headers: its refusal is the answer; when it
 * accepted, the connection is recorded for the listener (`takeUpgrade`), which answers the client
 * 101 with the backend's subprotocol and relays frames. No extension is negotiated on either side
 * (`Sec-WebSocket-Extensions` is not forwarded), so frames pass as they are. Outbound and on-error
 * policies do not run (there is no HTTP response to run them on; frames pass no policy).
 * Backend connections honour `net.client.tls.*` (`options.tls`); a backend the egress proxy does not
 * exempt is reached through a CONNECT tunnel across it (runtime/websocket/tunnel.ts), never around it.
 * The handshake passes the backend's circuit breaker and concurrency limit like any backend call.
 * Resolves to the answer for the client; for an accepted handshake, a placeholder the listener
 * replaces with its 101.
 */
export async function openWebSocket(reporting: PolicyReporting, forwarded: ForwardRequest, options: WebSocketBackendOptions): Promise<Response> {
  const { request, client, chains } = forwarded;
  const version = request.headers.get("sec-websocket-version");
  if (!request.headers.get("sec-websocket-key") || version !== "13") {
    throw new HttpProblem("bad-request", {
      detail: "A WebSocket handshake needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13.",
      headers: { "sec-websocket-version": "13" },
    });
  }
  const headers = upstreamRequestHeaders(request.headers, client);
  if (forwarded.dropHeader) headers.delete(forwarded.dropHeader);
  for (const name of ["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "accept-encoding"]) headers.delete(name);
  let backend = forwarded.backend;
  let rest = forwarded.rest;
  let search = forwarded.search;
  let exchange: PolicyExchange | undefined;
  if (chains.request.length) {
    exchange = exchangeFor(forwarded, headers, reporting);
    try {
      await chains.request.run(exchange, reporting);
    } finally {
      // Concurrency slots (limit-concurrency) are held for the handshake, not for the connection's life.
      if (exchange.releases) { for (const release of exchange.releases) release(); }
    }
    forwarded.record?.trace?.event("policies.inbound");
    if (exchange.reply) return replyResponse(exchange.reply, exchange.deferred);
    backend = chosenBackend(exchange, forwarded.backends, forwarded.urlBackends, forwarded.backend);
    rest = exchange.rest!;
    search = exchange.search!;
  }
  const url = backend.target(rest, search);
  const record = forwarded.record;
  if (record) {
    record.backend = backend.name;
    record.backendHost = backend.origin(url).host;
  }
  // Like any backend call, the handshake passes the circuit breaker (503 while it is open) and waits
  // for a place under the backend's concurrency limit; both are held for the handshake, not for
  // the connection's life (a relayed connection is no call in flight).
  const breaker = backend.breaker;
  const probe = breaker === undefined ? false : breaker.admit();
  const waiting = backend.gate.enter();
  if (waiting) {
    await waiting.catch((error: unknown) => {
      breaker?.abandon(probe);
      throw error;
    });
  }
  const called = performance.now();
  let outcome;
  try {
    outcome = await openBackend(url, headers, backend.tls, backend.timeoutMs, backend.name, options.tls, options.proxy?.proxyFor(url));
  } catch (error) {
    backend.gate.leave();
    if (!(error instanceof Error)) {
      breaker?.abandon(probe);
      throw error;
    }
    backend.observe(url, undefined);
    const cause = error instanceof HttpProblem && error.kind === "backend-timeout" ? "timeout" : upstreamErrorCause(error.cause ?? error);
    breaker?.failed(probe, cause);
    if (record) record.upstreamError = cause;
    throw error;
  }
  backend.gate.leave();
  breaker?.respond(probe, outcome.kind === "refused" ? outcome.response.status : 101, outcome.kind === "refused" ? outcome.response.headers : EMPTY_HEADERS);
  if (record) record.backendMs = performance.now() - called;
  if (outcome.kind === "refused") {
    backend.observe(url, outcome.response.status);
    return outcome.response;
  }
  backend.observe(url, 101);
  // The client may have gone while the backend was being asked: the listener then closes the backend connection.
  acceptUpgrade(request, outcome);
  return new Response(null, { status: 200 });
}
