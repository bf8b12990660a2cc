import type { BackendTlsMaterial } from "../../config/snapshot/build.ts";
import type { ClientTlsLimits } from "../tls/limits.ts";
import { TIMED_OUT, type UpstreamClient, type UpstreamRequest, UpstreamTimeout } from "./client.ts";

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

/**
 * An upstream client on the runtime's global `fetch` (Bun, Deno): pooled keep-alive connections,
 * request bodies streamed with `duplex: "half"`, redirects and compressed bodies passed through as is.
 */
export function fetchUpstream(limits?: ClientTlsLimits): UpstreamClient {
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
      const init: RequestInit & { duplex?: "half"; decompress?: boolean; tls?: BunFetchTls } = {
        method: request.method,
        headers: request.headers,
        redirect: "manual",
        signal: controller.signal,
        // Bun: keep Content-Encoding bodies as the backend sent them.
        decompress: false,
      };
      // TLS options only for https backends: a plain http request has nothing to negotiate.
      const tls = request.url.startsWith("https:") ? tlsFor(request.tls) : undefined;
      if (tls) init.tls = tls;
      if (request.body) init.body = request.body;
      else if (request.clientBody) {
        init.body = request.clientBody.stream();
        init.duplex = "half";
      }
      try {
        return await fetch(request.url, init);
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
