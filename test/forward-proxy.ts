/**
 * A small HTTP forward proxy for egress tests, on node:http (the same on every runtime): CONNECT
 * requests are tunnelled by piping the client's socket to the target's, absolute-form requests
 * (`GET http://host:port/path`) are forwarded to their target. It records what it saw (method,
 * target, Proxy-Authorization) and can require a Proxy-Authorization value (407 otherwise).
 */
import { createServer, type IncomingMessage, request as httpRequest, type Server } from "node:http";
import { connect, type Socket } from "node:net";

/** One request the proxy received. */
export interface ProxiedRequest {
  /** `CONNECT` for a tunnel, else the request's method. */
  readonly method: string;
  /** The request target as it arrived: `host:port` for CONNECT, an absolute URL otherwise. */
  readonly target: string;
  /** The Proxy-Authorization header as received, if any. */
  readonly proxyAuthorization: string | undefined;
  /** Whether the proxy let it through (false: 407 or a malformed target). */
  readonly allowed: boolean;
}

/** A running forward proxy. */
export interface ForwardProxy {
  readonly port: number;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly seen: ProxiedRequest[];
  close(): Promise<void>;
}

/** Starts a forward proxy on a free loopback port; with `requireAuth`, only requests whose Proxy-Authorization equals it pass. */
export function startForwardProxy(options: { requireAuth?: string } = {}): Promise<ForwardProxy> {
  const seen: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const authorized = (req: IncomingMessage) => options.requireAuth === undefined || req.headers["proxy-authorization"] === options.requireAuth;
  const record = (req: IncomingMessage, allowed: boolean) =>
    seen.push({ method: req.method!, target: req.url!, proxyAuthorization: req.headers["proxy-authorization"], allowed });

  const server: Server = createServer((req, res) => {
    let target: URL | undefined;
    try {
      target = /^http:\/\//i.test(req.url!) ? new URL(req.url!) : undefined;
    } catch {
      target = undefined;
    }
    const allowed = authorized(req) && target !== undefined;
    record(req, allowed);
    if (!authorized(req)) {
      req.resume();
      res.writeHead(407, { "proxy-authenticate": 'Basic realm="test"', "content-length": "0" }).end();
      return;
    }
    if (!target) {
      req.resume();
      res.writeHead(400, { "content-length": "0" }).end();
      return;
    }
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    delete headers["proxy-connection"];
    const upstream = httpRequest(
      { host: target.hostname, port: target.port || 80, method: req.method, path: `${target.pathname}${target.search}`, headers },
      (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.headersSent ? res.destroy() : res.writeHead(502, { "content-length": "0" }).end());
    req.pipe(upstream);
  });

  server.on("connect", (req: IncomingMessage, client: Socket, head: Buffer) => {
    const allowed = authorized(req);
    record(req, allowed);
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    if (!allowed) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm="test"\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const at = req.url!.lastIndexOf(":");
    const host = req.url!.slice(0, at).replace(/^\[|\]$/g, "");
    const target = connect(Number(req.url!.slice(at + 1)), host, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length) target.write(head);
      target.pipe(client);
      client.pipe(target);
    });
    sockets.add(target);
    target.on("close", () => {
      sockets.delete(target);
      client.destroy();
    });
    target.on("error", () => client.end("HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n"));
    client.on("close", () => target.destroy());
  });

  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      resolve({
        port,
        url: `http://127.0.0.1:${port}`,
        seen,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
