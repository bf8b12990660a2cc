/** A raw HTTP/1.1 client for tests that must control the exact bytes sent (targets, hop-by-hop headers). */
import { connect } from "node:net";

/** A parsed response: status, lower-cased headers (repeated ones joined by ", ") and the body text. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

function dechunk(body: string): string {
  let out = "";
  let rest = body;
  for (;;) {
    const eol = rest.indexOf("\r\n");
    if (eol < 0) return out;
    const size = parseInt(rest.slice(0, eol), 16);
    if (!size) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 4 + size);
  }
}

/** Sends `head` (request line and headers, without the final blank line) plus `Connection: close`, then `body`. */
export function rawRequest(port: number, head: string, body = ""): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(`${head}\r\nConnection: close\r\n\r\n${body}`));
    let data = "";
    socket.setEncoding("latin1");
    socket.on("data", (d) => (data += d));
    socket.on("error", reject);
    socket.on("close", () => {
      // Skip interim responses (100 Continue) before the final one.
      while (/^HTTP\/1\.[01] 1\d\d /.test(data)) data = data.slice(data.indexOf("\r\n\r\n") + 4);
      const split = data.indexOf("\r\n\r\n");
      const lines = data.slice(0, split).split("\r\n");
      const status = Number(lines[0]!.split(" ")[1]);
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] ? `${headers[name]}, ${value}` : value;
      }
      const raw = data.slice(split + 4);
      resolve({ status, headers, body: /chunked/i.test(headers["transfer-encoding"] ?? "") ? dechunk(raw) : raw });
    });
  });
}
