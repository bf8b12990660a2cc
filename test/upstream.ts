/** Real HTTP backends for end-to-end tests, on node:http (the same on every runtime). */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** What a backend saw of one request. */
export interface SeenRequest {
  readonly method: string;
  /** The request target exactly as it arrived on the wire. */
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  readonly rawHeaders: string[];
}

/** A running test backend. */
export interface Upstream {
  readonly port: number;
  readonly url: string;
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

/** Starts a backend on a free loopback port; `handle` answers (default: 200 JSON echo of the request). */
export function startUpstream(handle?: (req: IncomingMessage, res: ServerResponse) => void): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders });
    if (handle) return handle(req, res);
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }));
    });
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
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
