/** The nginx reference arm: one worker proxying to the benchmark upstream with keep-alive. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Writes an nginx configuration into `dir` (which also holds its pid, logs and temp files):
 * 1 worker, foreground, access log off, listening on 127.0.0.1:`port`, proxying everything to
 * 127.0.0.1:`upstreamPort` over HTTP/1.1 with a keep-alive pool of 32 connections. With `tls`
 * (certificate and key files) it listens with TLS and offers HTTP/2 by ALPN (`listen ... ssl http2`),
 * HTTP/1.1 on the same port, and keeps a connection for any number of requests (nginx closes HTTP/2
 * connections after 1,000 by default, which h2load counts as failed requests). Returns the argv that runs it.
 */
export function nginxCommand(nginx: string, dir: string, port: number, upstreamPort: number, tls?: { cert: string; key: string }): string[] {
  mkdirSync(join(dir, "temp"), { recursive: true });
  const temp = (kind: string) => `${kind}_temp_path ${join(dir, "temp", kind)};`;
  const conf = `# written by bench/throughput.ts
worker_processes 1;
daemon off;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
events { worker_connections 1024; }
http {
  access_log off;
  ${["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(temp).join("\n  ")}
  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port}${tls ? " ssl http2" : ""};
    ${tls ? `ssl_certificate ${tls.cert};\n    ssl_certificate_key ${tls.key};\n    keepalive_requests 1000000;` : ""}
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
  const file = join(dir, "nginx.conf");
  writeFileSync(file, conf);
  return [nginx, "-p", dir, "-e", join(dir, "error.log"), "-c", file];
}
