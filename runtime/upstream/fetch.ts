import type { BackendTlsMaterial } from "../../config/snapshot/build.ts";
import type { ClientTlsLimits } from "../tls/limits.ts";
import { TIMED_OUT, type UpstreamClient, type UpstreamOptions, type UpstreamRequest, UpstreamTimeout } from "./client.ts";
import type { EgressProxy, ProxyEndpoint } from "./egress-proxy.ts";

/** Bun's fetch `tls` option (versions are numbers: 0x0303 = TLS 1.2). */
interface BunFetchTls {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
  serverName?: string;
  ciphers?: string;
  maxVersion?: number;
}

/** The `tls` option for a backend: its own material plus the client-wide limits; undefined when there is nothing to say. */
function fetchTls(material: BackendTlsMaterial | undefined, limits: ClientTlsLimits | undefined): BunFetchTls | undefined {
  const tls: BunFetchTls = {};
  // The operator's list or Portico's defaults. TLS 1.3 suites cannot be restricted: see the capabilities.
  if (limits?.suites?.tls12) tls.ciphers = limits.suites.tls12;
  if (limits?.maxVersion === "TLSv1.2") tls.maxVersion = 0x0303;
  if (material) {
    if (material.ca) tls.ca = material.ca;
    if (material.cert) tls.cert = material.cert;
    if (material.key) tls.key = material.key;
    if (material.sni) tls.serverName = material.sni;
    if (!material.verify) tls.rejectUnauthorized = false;
  }
  return Object.keys(tls).length ? tls : undefined;
}

/** Bun's fetch `proxy` option: the proxy's URL (without user info) and the headers sent to it. */
interface BunFetchProxy {
  url: string;
  headers?: Record<string, string>;
}

/**
 * Bun's `proxy` option for an endpoint: Proxy-Authorization as a header, so the URL Bun holds (and
 * may show in an error) has no credentials.
 */
function bunProxy(via: ProxyEndpoint): BunFetchProxy {
  return via.authorization ? { url: via.origin, headers: { "proxy-authorization": via.authorization } } : { url: via.origin };
}

/** A proxy's 407 to an absolute-form request comes back as a response: it is the proxy's refusal, not the backend's answer. */
export class ProxyRefused extends Error {
  constructor(proxy: string, status: number) {
    super(`the egress proxy ${proxy} refused the request (${status} Proxy Authentication Required)`);
    this.name = "ProxyRefused";
  }
}

/**
 * Bun's `proxy` option for each request's URL by the egress proxy decision, built once per proxy;
 * undefined without a proxy (no per-request lookup at all).
 */
function proxyChooser(proxy: EgressProxy | undefined): ((url: string) => { via: ProxyEndpoint; option: BunFetchProxy } | undefined) | undefined {
  if (!proxy) return undefined;
  const options = new Map<ProxyEndpoint, { via: ProxyEndpoint; option: BunFetchProxy }>();
  return (url) => {
    const via = proxy.proxyFor(url);
    if (!via) return undefined;
    let chosen = options.get(via);
    if (!chosen) options.set(via, chosen = { via, option: bunProxy(via) });
    return chosen;
  };
}

/**
 * An upstream client on the runtime's global `fetch` (Bun): pooled keep-alive connections,
 * request bodies streamed with `duplex: "half"`, redirects and compressed bodies passed through as is.
 * With an egress proxy, Bun's `proxy` option: a CONNECT tunnel for https backends (the `tls`
 * option applies inside it), absolute-form requests for http ones.
 */
export function fetchUpstream(limits?: ClientTlsLimits, { proxy }: UpstreamOptions = {}): UpstreamClient {
  const choose = proxyChooser(proxy);
  const defaultTls = fetchTls(undefined, limits);
  // Built once per backend's material, not per request.
  const tlsByBackend = new WeakMap<BackendTlsMaterial, BunFetchTls | undefined>();
  const tlsFor = (material: BackendTlsMaterial | undefined) => {
    if (!material) return defaultTls;
    if (!tlsByBackend.has(material)) tlsByBackend.set(material, fetchTls(material, limits));
    return tlsByBackend.get(material);
  };
  return {
    async send(request: UpstreamRequest): Promise<Response> {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(TIMED_OUT), request.timeoutMs);
      const init: RequestInit & { duplex?: "half"; decompress?: boolean; tls?: BunFetchTls; proxy?: BunFetchProxy } = {
        method: request.method,
        // Always web Headers here: this client does not take HeaderFields (no `headerFields`).
        headers: request.headers as Headers,
        redirect: "manual",
        signal: controller.signal,
        // Bun: keep Content-Encoding bodies as the backend sent them.
        decompress: false,
      };
      // TLS options only for https backends: a plain http request has nothing to negotiate.
      const tls = request.url.startsWith("https:") ? tlsFor(request.tls) : undefined;
      if (tls) init.tls = tls;
      const proxied = choose?.(request.url);
      if (proxied) init.proxy = proxied.option;
      if (request.body) init.body = request.body;
      else if (request.clientBody) {
        init.body = request.clientBody.stream();
        init.duplex = "half";
      }
      try {
        const response = await fetch(request.url, init);
        if (proxied && response.status === 407) {
          await response.body?.cancel();
          throw new ProxyRefused(proxied.via.origin, 407);
        }
        return response;
      } catch (error) {
        throw controller.signal.reason === TIMED_OUT ? new UpstreamTimeout(request.timeoutMs) : error;
      } finally {
        // Headers are in (or the call failed): the timeout must not cut the streaming body.
        clearTimeout(timer);
      }
    },
    close: async () => {},
  };
}

/**
 * Bun's `fetch` for the gateway's own calls (control plane, validate-jwt keys, OTLP): it also trusts
 * `ca` (PEM) and goes through the egress proxy where the decision says so. Without either, the
 * global `fetch`.
 */
export function bunOwnFetch(ca: string | undefined, proxy?: EgressProxy): typeof fetch {
  if (!ca && !proxy) return fetch;
  const choose = proxyChooser(proxy);
  const tls = ca ? { ca } : undefined;
  return ((input: RequestInfo | URL, init?: RequestInit) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const proxied = choose?.(url);
    const answer = fetch(input, { ...init, ...(tls ? { tls } : {}), ...(proxied ? { proxy: proxied.option } : {}) } as RequestInit);
    // As undici does: the proxy's 407 to an absolute-form request is a failed call, not the target's answer.
    return proxied
      ? answer.then(async (response) => {
        if (response.status !== 407) return response;
        await response.body?.cancel();
        throw new ProxyRefused(proxied.via.origin, 407);
      })
      : answer;
  }) as typeof fetch;
}
