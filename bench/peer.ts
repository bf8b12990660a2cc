/**
 * The JavaScript peer arm: `@fastify/http-proxy` on Node with its defaults (undici pool to the
 * upstream, logging off), proxying every path. `node --import tsx bench/peer.ts PORT UPSTREAM_URL`.
 */
import proxy from "@fastify/http-proxy";
import Fastify from "fastify";

const port = Number(process.argv[2]);
const upstream = process.argv[3];
if (!Number.isInteger(port) || port <= 0 || port > 65535 || !upstream) {
  process.stderr.write("usage: node --import tsx bench/peer.ts PORT UPSTREAM_URL\n");
  process.exit(2);
}
const app = Fastify({ logger: false });
await app.register(proxy, { upstream, prefix: "/", http2: false });
await app.listen({ port, host: "127.0.0.1" });
const stop = () => void app.close().finally(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
