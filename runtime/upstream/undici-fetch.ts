import { Agent, type Dispatcher, fetch as undiciFetch, ProxyAgent } from "undici";
import type { EgressProxy, ProxyEndpoint } from "./egress-proxy.ts";

/** The URL a fetch call is for, as a string. */
function urlOf(input: RequestInfo | URL): string {
  return typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
}

/**
 * A `fetch` (undici's) for the gateway's own calls (control plane, validate-jwt keys, OTLP) on Node
 * and Deno, whose global `fetch` takes no per-call CA or proxy: it also trusts a private CA besides
 * the system's, and goes through the egress proxy where the decision says so (CONNECT for https,
 * absolute-form for http, the CA applying inside the tunnel). Never on the request path. Without
 * either, the global `fetch`.
 */
export function fetchTrusting(ca: string | undefined, proxy?: EgressProxy): typeof fetch {
  if (!ca && !proxy) return fetch;
  const tls = ca ? { ca } : {};
  const direct = new Agent({ connect: tls });
  const proxies = new Map<ProxyEndpoint, Dispatcher>();
  const dispatcherFor = (url: string): Dispatcher => {
    const via = proxy?.proxyFor(url);
    if (!via) return direct;
    let agent = proxies.get(via);
    if (!agent) {
      agent = new ProxyAgent({ uri: via.origin, ...(via.authorization ? { token: via.authorization } : {}), proxyTunnel: false, requestTls: tls });
      proxies.set(via, agent);
    }
    return agent;
  };
  return ((input: RequestInfo | URL, init?: RequestInit) =>
    undiciFetch(input as never, { ...(init as object), dispatcher: dispatcherFor(urlOf(input)) } as never)) as unknown as typeof fetch;
}
