import { applyDeferred, type PolicyExchange, type PolicyReply } from "../policy/abi.ts";
import type { PolicyReporting } from "../policy/chain.ts";
import type { BackendPool, UrlBackends } from "../pipeline/backend.ts";
import type { ForwardRequest } from "./proxy.ts";

/**
 * The policy exchange of a routed request (plain HTTP or a WebSocket handshake): what its
 * policies read and change. `headers` are the headers being prepared for the backend, so inbound
 * policies edit what is sent. Built only for operations that have policies.
 */
export function exchangeFor(forwarded: ForwardRequest, headers: Headers, reporting: PolicyReporting): PolicyExchange {
  return {
    method: forwarded.request.method,
    path: forwarded.path,
    requestHeaders: headers,
    responseHeaders: undefined,
    rest: forwarded.rest,
    search: forwarded.search,
    params: forwarded.params,
    clientIp: forwarded.client.ip,
    api: forwarded.api,
    operation: forwarded.operation,
    subscription: forwarded.caller?.subscription,
    product: forwarded.caller?.product,
    backends: forwarded.backends,
    clientCertificate: forwarded.clientCertificate,
    logger: reporting.logger,
    clientBody: forwarded.clientBody,
    state: forwarded.state,
    traceId: forwarded.record?.trace?.traceId,
    record: forwarded.record,
  };
}

/**
 * The backend a policy chose (set-backend-service by name or by base URL), or `fallback`, the
 * API's own. A name that is not a configured backend keeps the API's own (the policy's own checks
 * refuse unknown names when the configuration loads).
 */
export function chosenBackend(
  exchange: PolicyExchange,
  backends: ReadonlyMap<string, BackendPool> | undefined,
  urlBackends: UrlBackends | undefined,
  fallback: BackendPool,
): BackendPool {
  if (exchange.backend !== undefined) return backends?.get(exchange.backend) ?? fallback;
  if (exchange.backendUrl !== undefined && urlBackends) return urlBackends.get(exchange.backendUrl, fallback.timeoutMs);
  return fallback;
}

/** The answer a policy made (return-response, check-header, ...), with the response header changes it recorded (`deferred`). */
export function replyResponse({ status, headers, body, bytes }: PolicyReply, deferred: PolicyExchange["deferred"]): Response {
  if (deferred) applyDeferred(headers, deferred);
  return new Response(status === 204 || status === 205 || status === 304 ? null : (bytes ?? body), { status, headers });
}
