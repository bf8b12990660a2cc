/**
 * Feeds the byte counters policies attached to an exchange (`portico_counter_add_bytes`, ABI 1.4;
 * the bandwidth of `quota` and `quota-by-key`) as the bodies stream: the request body's bytes as
 * they arrive from the client, the response body's as they go to the client. Counting happens per
 * chunk, so a body without Content-Length (chunked, or a stream that never says its length) counts
 * exactly like one with it, and a long download counts while it runs. Headers are not counted.
 */
import type { WatchedBody } from "../http/body-guard.ts";
import type { ByteMeter, PolicyExchange } from "./abi.ts";

/** Adds `bytes` to every meter of `meters` that counts this direction. */
function add(exchange: PolicyExchange, meters: readonly ByteMeter[], direction: "request" | "response", bytes: number): void {
  const state = exchange.state;
  if (!state || bytes <= 0) return;
  const now = Date.now();
  for (const meter of meters) {
    if (!meter[direction]) continue;
    if (meter.shared) meter.shared(bytes, now);
    else state.counterAdd(meter.key, meter.windowMs, bytes, -1, now);
  }
}

/**
 * Counts the client's request body for the exchange's meters: what has already been received (a
 * policy may have buffered it before the meter was attached) and every piece received from now on.
 * Call once, after the request policies ran.
 */
export function countRequestBytes(exchange: PolicyExchange, body: WatchedBody | undefined): void {
  const meters = exchange.meters?.filter((m) => m.request);
  if (!body || !meters?.length) return;
  add(exchange, meters, "request", body.bytes);
  body.onChunk((bytes) => add(exchange, meters, "request", bytes));
}

/**
 * The response with its body counted for the exchange's meters as it streams to the client (the
 * same response when no meter counts response bytes or it has no body).
 */
export function countResponseBytes(exchange: PolicyExchange, response: Response): Response {
  const meters = exchange.meters?.filter((m) => m.response);
  if (!meters?.length || !response.body) return response;
  const counting = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      add(exchange, meters, "response", chunk.byteLength);
      controller.enqueue(chunk);
    },
  });
  return new Response(response.body.pipeThrough(counting), { status: response.status, statusText: response.statusText, headers: response.headers });
}
