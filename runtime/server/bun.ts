import { fetchUpstream } from "../upstream/fetch.ts";
import type { ListenOptions, RunningServer, ServerAdapter } from "./adapter.ts";

type BunServer = import("bun").Server<undefined>;

/** Bun.serve: the primary runtime. Request bodies of any size stream; the idle timeout is Bun's maximum. */
export const bunAdapter: ServerAdapter = {
  runtime: "bun",
  version: Bun.version,
  capabilities: { streamingRequestBodies: true, upstreamClient: "fetch" },
  async listen({ port, hostname, handler }: ListenOptions): Promise<RunningServer> {
    const server = Bun.serve({
      port,
      hostname,
      fetch: handler as (request: Request, server: BunServer) => Response | Promise<Response>,
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      idleTimeout: 255,
      development: false,
    });
    return {
      port: server.port ?? port,
      close: (force = false) => server.stop(force),
    };
  },
  clientAddress(request: Request, env: unknown): string {
    return (env as BunServer).requestIP(request)?.address ?? "";
  },
  createUpstreamClient: fetchUpstream,
};
