import type { ClientHttp2Session } from "node:http2";

/**
 * Streams one session carries before the next request opens a new one (the old one finishes its
 * streams and closes): a client has 2^30 stream identifiers per connection, which a busy gateway
 * uses up in about a day at 10k requests/s.
 */
export const MAX_STREAMS_PER_SESSION = 1_000_000_000;

/**
 * Closes a session gracefully once the requests made on it so far are sent: after it connects and
 * after this turn. Closed sooner, Node and Deno refuse a request still queued on it.
 */
export function closeWhenSent(session: ClientHttp2Session): void {
  const close = () => setImmediate(() => session.closed || session.destroyed || session.close());
  if (session.connecting) session.once("connect", close);
  else close();
}
