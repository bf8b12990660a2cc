import { undiciUpstream } from "../upstream/undici.ts";
import type { ListenOptions, RunningServer, ServerAdapter } from "./adapter.ts";

interface DenoServeInfo {
  remoteAddr: { hostname: string };
}
interface DenoHttpServer {
  finished: Promise<void>;
  shutdown(): Promise<void>;
}
interface DenoNamespace {
  version: { deno: string };
  serve(
    options: { port: number; hostname: string; onListen?: (addr: { port: number }) => void },
    handler: (request: Request, info: DenoServeInfo) => Response | Promise<Response>,
  ): DenoHttpServer & { addr: { port: number } };
}

const Deno = (globalThis as unknown as { Deno: DenoNamespace }).Deno;

/** Deno.serve (hyper underneath); `env` is Deno's serve info, which carries the remote address. */
export const denoAdapter: ServerAdapter = {
  runtime: "deno",
  version: Deno.version.deno,
  capabilities: { streamingRequestBodies: true, upstreamClient: "undici" },
  async listen({ port, hostname, handler }: ListenOptions): Promise<RunningServer> {
    const server = Deno.serve({ port, hostname, onListen: () => {} }, handler);
    return {
      port: server.addr.port,
      close: async (force = false) => {
        if (force) {
          await Promise.race([server.shutdown(), Promise.resolve()]);
          return;
        }
        await server.shutdown();
      },
    };
  },
  clientAddress(_request: Request, env: unknown): string {
    return (env as DenoServeInfo).remoteAddr.hostname;
  },
  createUpstreamClient: undiciUpstream,
};
