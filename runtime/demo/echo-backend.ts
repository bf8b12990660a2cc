import { createServer, type Server } from "node:http";

/**
 * A small backend for demos and the quickstart: answers every request with JSON describing what
 * it received (method, the request target exactly as sent, headers, body size). No network needed.
 */
export function startEchoBackend(port: number, hostname = "127.0.0.1"): Promise<Server> {
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.on("end", () => {
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyBytes: bytes }, null, 2);
      res.writeHead(200, { "content-type": "application/json", "x-echo": "portico-demo" });
      res.end(`${body}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => resolve(server));
  });
}
