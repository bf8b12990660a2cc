import { hasNoBody, UpstreamTimeout, type UpstreamClient, type UpstreamRequest } from "./client.ts";

/** Reason given to the abort signal when the timeout fires, to tell it from other aborts. */
const TIMED_OUT = "portico:backend-timeout";

/**
 * An upstream client on the runtime's global `fetch` (Bun, Deno): pooled keep-alive connections,
 * request bodies streamed with `duplex: "half"`, redirects and compressed bodies passed through as is.
 */
export function fetchUpstream(): UpstreamClient {
  return {
    async send(request: UpstreamRequest): Promise<Response> {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(TIMED_OUT), request.timeoutMs);
      const init: RequestInit & { duplex?: "half"; decompress?: boolean } = {
        method: request.method,
        headers: request.headers,
        redirect: "manual",
        signal: controller.signal,
        // Bun: keep Content-Encoding bodies as the backend sent them.
        decompress: false,
      };
      if (!hasNoBody(request.method) && request.incoming.body) {
        init.body = request.incoming.body;
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
