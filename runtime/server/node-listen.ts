import type { Server } from "node:http";
import type { AddressInfo, Server as NetServer } from "node:net";
import type { RunningServer } from "./adapter.ts";

/** How a node:http server is put on a port. */
export interface NodeListenOptions {
  /**
   * The server that accepts connections, when it is not the HTTP server itself: a node:tls server
   * that hands each decrypted connection to the HTTP server.
   */
  readonly front?: NetServer;
  /** Bind beside another listener on the same port (SO_REUSEPORT), to replace it without a gap. */
  readonly reusePort?: boolean;
}

/**
 * Starts a node:http server (directly or behind a node:tls server) on a port and gives it the
 * adapter's shape: the bound port, and a close that lets in-flight requests finish unless forced.
 */
export async function listenNodeServer(server: Server, port: number, hostname: string, { front = server, reusePort = false }: NodeListenOptions = {}): Promise<RunningServer> {
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen({ port, host: hostname, ...(reusePort ? { reusePort } : {}) }, () => {
      front.off("error", reject);
      resolve();
    });
  });
  return {
    port: (front.address() as AddressInfo).port,
    close: (force = false) =>
      new Promise<void>((resolve) => {
        front.close(() => resolve());
        if (force) server.closeAllConnections();
        else server.closeIdleConnections();
      }),
  };
}
