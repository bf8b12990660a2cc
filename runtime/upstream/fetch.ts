import { hasNoBody, type UpstreamClient, type UpstreamRequest } from "./client.ts";

/**
 * An upstream client on the runtime's global `fetch` (Bun, Deno): pooled keep-alive connections,
 * request bodies streamed with `duplex: "half"`, redirects and compressed bodies passed through as is.
 */
export function fetchUpstream(): UpstreamClient {
  return {
    send(request: UpstreamRequest): Promise<Response> {
      const init: RequestInit & { duplex?: "half"; decompress?: boolean } = {
        method: request.method,
        headers: request.headers,
        redirect: "manual",
        signal: request.signal,
        // Bun: keep Content-Encoding bodies as the backend sent them.
        decompress: false,
      };
      if (!hasNoBody(request.method) && request.incoming.body) {
        init.body = request.incoming.body;
        init.duplex = "half";
      }
      return fetch(request.url, init);
    },
    close: async () => {},
  };
}
