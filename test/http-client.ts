/**
 * A small HTTP/1.1 client for end-to-end tests on node:http (the same on Bun, Deno and Node), for
 * requests `fetch` may refuse or rewrite (an `Origin` header, an IPv6 loopback target).
 */
import { request as httpRequest } from "node:http";

/** A response: status, lower-cased headers (repeated ones joined by ", ") and the body text. */
export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Sends one request to `http://host:port/path` and reads the whole response. */
export function httpCall(
  port: number,
  path: string,
  { method = "GET", headers = {}, host = "127.0.0.1", body }: { method?: string; headers?: Record<string, string>; host?: string; body?: string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, method, headers: { connection: "close", ...headers }, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("error", reject);
      res.on("end", () => {
        const out: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value;
        }
        resolve({ status: res.statusCode!, headers: out, body: text });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}
