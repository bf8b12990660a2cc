import { HttpProblem } from "../http/problem.ts";
import type { BackendPool } from "../pipeline/backend.ts";
import { UpstreamTimeout, type UpstreamClient } from "../upstream/client.ts";
import type { Chains } from "../pipeline/pipeline.ts";
import type { PolicyExchange, PolicyReply } from "../policy/abi.ts";
import type { PolicyChain, PolicyReporting } from "../policy/chain.ts";
import { clientResponseHeaders, isEndToEnd, upstreamRequestHeaders, type ClientFacts } from "./headers.ts";

/** Everything the proxy needs to forward one request. */
export interface ForwardRequest {
  readonly request: Request;
  readonly env: unknown;
  readonly backend: BackendPool;
  /** The path after the API prefix, as received. */
  readonly rest: string;
  /** The query string including "?", or "". */
  readonly search: string;
  /** The routed path, as policies see it. */
  readonly path: string;
  readonly client: ClientFacts;
  /** The policies around this operation. */
  readonly chains: Chains;
}

/**
 * Runs the operation's request policies, forwards the request to its backend (unless a policy
 * answered), runs the response policies, and returns the response with a streaming body.
 * An unreachable backend becomes 502 and a backend that sends no headers within its timeout 504,
 * both as HttpProblem; the timeout stops counting once headers arrive, so long downloads are not cut.
 */
export async function forward(upstream: UpstreamClient, reporting: PolicyReporting, forwarded: ForwardRequest): Promise<Response> {
  const { request, env, backend, rest, search, client, chains } = forwarded;
  const url = backend.target(rest, search);
  const headers = upstreamRequestHeaders(request.headers, client);
  // Only operations with policies pay for an exchange; outbound policies see the request as sent too.
  const exchange: PolicyExchange | undefined =
    chains.request.length || chains.response.length ? { method: request.method, path: forwarded.path, requestHeaders: headers, responseHeaders: undefined } : undefined;
  if (exchange && chains.request.length) {
    await chains.request.run(exchange, reporting);
    // A policy answered (return-response, check-header, ...): the backend is not called.
    if (exchange.reply) return replyResponse(exchange.reply);
  }
  let response: Response;
  try {
    response = await upstream.send({
      url,
      method: request.method,
      headers,
      incoming: request,
      env,
      timeoutMs: backend.timeoutMs,
    });
  } catch (error) {
    // Logs name the backend and its origin, never the path or query, which may carry secrets.
    const origin = new URL(url).origin;
    if (error instanceof UpstreamTimeout) {
      throw new HttpProblem("backend-timeout", { internal: `backend "${backend.name}" (${origin}) sent no response headers within ${backend.timeoutMs} ms` });
    }
    throw new HttpProblem("backend-unreachable", { internal: `backend "${backend.name}" (${origin}) could not be reached: ${describe(error)}`, cause: error });
  }
  if (exchange && chains.response.length) return respondThrough(chains.response, exchange, request, response, reporting);
  // Most backends send only end-to-end headers: pass their response on untouched (no copy).
  if (isEndToEnd(response.headers)) return response;
  return new Response(request.method === "HEAD" ? null : response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: clientResponseHeaders(response.headers),
  });
}

/** Runs the outbound chain on a mutable copy of the response headers; the body still streams. */
async function respondThrough(
  chain: PolicyChain,
  exchange: PolicyExchange,
  request: Request,
  response: Response,
  reporting: PolicyReporting,
): Promise<Response> {
  const responseHeaders = clientResponseHeaders(response.headers);
  exchange.responseHeaders = responseHeaders;
  try {
    await chain.run(exchange, reporting);
  } catch (error) {
    await response.body?.cancel().catch(() => {});
    throw error;
  }
  if (exchange.reply) {
    await response.body?.cancel().catch(() => {});
    return replyResponse(exchange.reply);
  }
  return new Response(request.method === "HEAD" ? null : response.body, { status: response.status, statusText: response.statusText, headers: responseHeaders });
}

/** The response a policy made; statuses that carry no body get none. */
function replyResponse({ status, headers, body }: PolicyReply): Response {
  return new Response(status === 204 || status === 205 || status === 304 ? null : body, { status, headers });
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}
