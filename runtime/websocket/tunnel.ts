import { request as httpRequest } from "node:http";
import { isIP, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import type { ProxyEndpoint } from "../upstream/egress-proxy.ts";
import { HttpProblem } from "../http/problem.ts";

/**
 * A connection to `host:port` through the egress proxy: a CONNECT tunnel (with the proxy's
 * `Proxy-Authorization`, never shown), then, for `wss://` backends, TLS inside it with `tls`
 * (the backend's CA, client certificate, verification and server name, and `net.client.tls.*`), so
 * the proxy sees neither the handshake nor the frames. Fails with the 502 problem, whose internal
 * detail names the proxy by its origin only. `signal` aborts it (the handshake's timeout).
 */
export function tunnelThrough(via: ProxyEndpoint, host: string, port: number, tls: ConnectionOptions | undefined, signal: AbortSignal): Promise<Socket> {
  const authority = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  const proxy = new URL(via.origin);
  return new Promise<Socket>((resolve, reject) => {
    const failed = (why: string, cause?: unknown) =>
      reject(new HttpProblem("backend-unreachable", { internal: `egress proxy ${via.origin}: ${why} (tunnel to ${authority})`, cause }));
    const request = httpRequest({
      host: proxy.hostname.replace(/^\[|\]$/g, ""),
      port: Number(proxy.port || 80),
      method: "CONNECT",
      path: authority,
      agent: false,
      headers: { host: authority, ...(via.authorization ? { "proxy-authorization": via.authorization } : {}) },
    });
    signal.addEventListener("abort", () => request.destroy(), { once: true });
    request.on("connect", (response, socket, head) => {
      if (response.statusCode !== 200) {
        socket.destroy();
        failed(`the proxy answered CONNECT with ${response.statusCode}`);
        return;
      }
      if (head.length) socket.unshift(head);
      if (!tls) return resolve(socket);
      const secure = tlsConnect({ ...tls, socket });
      const abort = () => secure.destroy();
      signal.addEventListener("abort", abort, { once: true });
      secure.once("secureConnect", () => {
        signal.removeEventListener("abort", abort);
        resolve(secure);
      });
      secure.once("error", (error: Error) => failed(`TLS inside the tunnel failed: ${error.message}`, error));
    });
    request.on("response", (response) => {
      response.resume();
      failed(`the proxy answered CONNECT with ${response.statusCode}`);
    });
    request.on("error", (error) => failed(signal.aborted ? "aborted" : `could not be reached: ${error.message}`, error));
    request.end();
  });
}
