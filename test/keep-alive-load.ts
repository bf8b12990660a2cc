/**
 * Load for end-to-end tests: many small requests over a few keep-alive connections on node:net (the
 * same on Bun, Deno and Node), one request at a time per connection, with each request's latency.
 * Much cheaper per request than `fetch`, so that a test can send hundreds of thousands of requests
 * without the client being what it measures.
 */
import { connect, type Socket } from "node:net";

/** What a load run saw. */
export interface LoadResult {
  /** Milliseconds from writing request i to reading the end of its response, by request index. */
  readonly latencies: Float64Array;
  /** Responses by status code. */
  readonly statuses: ReadonlyMap<number, number>;
  /** Milliseconds the whole run took. */
  readonly elapsedMs: number;
}

/** Options of a load run. */
export interface LoadOptions {
  readonly port: number;
  /** Requests to send in all. */
  readonly count: number;
  /** Keep-alive connections, each with one request in flight. */
  readonly connections: number;
  /** The request head for request i, from the request line to the blank line ending the headers. */
  readonly head: (i: number) => string;
  /** Called after every response, with how many are done (for sampling the gateway while it runs). */
  readonly progress?: (done: number) => void;
}

/** Sends `count` requests without bodies over `connections` keep-alive connections to 127.0.0.1:`port`. */
export async function keepAliveLoad({ port, count, connections, head, progress }: LoadOptions): Promise<LoadResult> {
  const latencies = new Float64Array(count);
  const statuses = new Map<number, number>();
  let next = 0;
  let done = 0;
  const started = performance.now();

  const run = (socket: Socket) =>
    new Promise<void>((resolve, reject) => {
      let buffer: Buffer = Buffer.alloc(0);
      let current = -1;
      let sentAt = 0;
      let finished = false;
      const send = () => {
        if (next >= count) {
          finished = true;
          socket.end();
          return resolve();
        }
        current = next++;
        sentAt = performance.now();
        socket.write(head(current));
      };
      socket.on("data", (data: Buffer) => {
        buffer = buffer.length ? Buffer.concat([buffer, data]) : data;
        for (;;) {
          const end = buffer.indexOf("\r\n\r\n");
          if (end < 0) return;
          const headText = buffer.subarray(0, end).toString("latin1");
          const length = /\r\ncontent-length:\s*(\d+)/i.exec(headText);
          if (!length) return reject(new Error(`a response without Content-Length: ${headText}`));
          const total = end + 4 + Number(length[1]);
          if (buffer.length < total) return;
          const status = Number(headText.slice(9, 12));
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          latencies[current] = performance.now() - sentAt;
          buffer = buffer.subarray(total);
          done += 1;
          progress?.(done);
          send();
        }
      });
      socket.on("error", reject);
      socket.on("close", () => {
        if (!finished) reject(new Error(`connection closed by the gateway after ${done} responses`));
      });
      send();
    });

  const sockets = await Promise.all(
    Array.from(
      { length: connections },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = connect(port, "127.0.0.1", () => resolve(socket));
          socket.setNoDelay(true);
          socket.once("error", reject);
        }),
    ),
  );
  try {
    await Promise.all(sockets.map(run));
  } finally {
    for (const socket of sockets) socket.destroy();
  }
  return { latencies, statuses, elapsedMs: performance.now() - started };
}

/** The `q` quantile (0..1) of the values from index `from` to `to` (excluded). */
export function quantile(values: Float64Array, from: number, to: number, q: number): number {
  const sorted = values.slice(from, to).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
