import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { RunningServer } from "./adapter.ts";

/**
 * Starts a node:http or node:https server (Node, and Deno's node:https) on a port and gives it the
 * adapter's shape: the bound port, and a close that lets in-flight requests finish unless forced.
 */
export async function listenNodeServer(server: Server, port: number, hostname: string): Promise<RunningServer> {
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: (force = false) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        if (force) server.closeAllConnections();
        else server.closeIdleConnections();
      }),
  };
}
