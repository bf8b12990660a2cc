/**
 * A fast local upstream for benchmarks, on Bun.serve: `bun bench/upstream.ts PORT`.
 * `GET /1k` answers a 1 KiB body; every other path answers "hello world".
 * Bodies are static responses, so Bun sends them without running JavaScript per request:
 * the upstream should cost as little CPU as possible next to the proxy under test.
 */

/** The body of every path but `/1k`. */
export const HELLO_BODY = "hello world";

/** The 1 KiB body served on `/1k`. */
export const KIB_BODY = "x".repeat(1023) + "\n";

/** Starts the upstream on 127.0.0.1:`port`; returns Bun's server (call `.stop()` to close it). */
function startUpstream(port: number): ReturnType<typeof Bun.serve> {
  const headers = { "content-type": "text/plain" };
  return Bun.serve({
    port,
    hostname: "127.0.0.1",
    routes: {
      "/": new Response(HELLO_BODY, { headers }),
      "/1k": new Response(KIB_BODY, { headers }),
    },
    fetch: () => new Response(HELLO_BODY, { headers }),
  });
}

if (import.meta.main) {
  const port = Number(process.argv[2]);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    process.stderr.write(`usage: bun bench/upstream.ts PORT (got ${JSON.stringify(process.argv[2] ?? null)})\n`);
    process.exit(2);
  }
  const server = startUpstream(port);
  process.stdout.write(`upstream listening on http://127.0.0.1:${server.port}\n`);
  const stop = () => {
    void server.stop(true);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
