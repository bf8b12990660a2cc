import type { Duplex } from "node:stream";
import { clearTimeout, setTimeout as timer } from "node:timers";
import type { OpenBackend } from "./backend.ts";
import type { RelayedConnection, WebSocketConnections } from "./connections.ts";
import { closePayload, encodeFrame, FrameReader, OP } from "./frames.ts";

/** How long a side that was sent a close frame may take to end its connection before it is cut. */
export const CLOSE_GRACE_MS = 5_000;

/**
 * Relays an upgraded client connection (a node:http listener's socket) and an open backend
 * connection byte for byte: frames, close codes and reasons, pings and pongs pass as they are
 * (client frames stay masked, backend frames unmasked, as each receiver expects). A frame reader
 * per direction follows frame boundaries without copying, for the message size limit (1009) and so
 * the gateway's own close frames (1009, idle 1001, shutdown 1001) are written between frames.
 * Backpressure: when a side's socket buffer is full (`write` returns false, past its high-water
 * mark of 16 KiB), the other side is no longer read until it drains, so each direction holds at most
 * that buffer and one read chunk (64 KiB).
 */
export function spliceWebSocket(client: Duplex, clientHead: Uint8Array, backend: OpenBackend, connections: WebSocketConnections): void {
  const upstream = backend.socket;
  const fromClient = new FrameReader(connections.maxMessageBytes);
  const fromBackend = new FrameReader(connections.maxMessageBytes);
  let closed = false;
  let last = performance.now();
  const idleMs = connections.idleMs;
  const idle = timer(function check() {
    const quiet = performance.now() - last;
    if (quiet >= idleMs) connection.close(1001, "idle timeout");
    else idle.refresh();
  }, idleMs);

  const finish = () => {
    clearTimeout(idle);
    connections.delete(connection);
  };
  /** Ends both sides: a close frame to each whose stream is at a frame boundary, else the connection is cut. */
  const closeWith = (code: number, reason: string, clientClean: boolean, backendClean: boolean) => {
    if (closed) return;
    closed = true;
    finish();
    const payload = closePayload(code, reason);
    if (clientClean) client.end(encodeFrame(OP.close, payload, false));
    else client.destroy();
    if (backendClean) upstream.end(encodeFrame(OP.close, payload, true));
    else upstream.destroy();
    timer(() => {
      client.destroy();
      upstream.destroy();
    }, CLOSE_GRACE_MS).unref();
  };
  const connection: RelayedConnection = {
    close: (code, reason) => closeWith(code, reason, fromBackend.atBoundary, fromClient.atBoundary),
  };
  connections.add(connection);

  const relay = (from: Duplex, to: Duplex, reader: FrameReader, toBackend: boolean) => {
    const pass = (chunk: Uint8Array) => {
      if (closed) return;
      last = performance.now();
      const overflow = reader.feed(chunk);
      if (overflow) {
        if (overflow.at > 0) to.write(chunk.subarray(0, overflow.at));
        // The sender gets 1009 on the stream the other direction writes; the receiver never saw the message's header.
        const otherReader = toBackend ? fromBackend : fromClient;
        if (toBackend) closeWith(1009, "message too big", otherReader.atBoundary, overflow.clean);
        else closeWith(1009, "message too big", overflow.clean, otherReader.atBoundary);
        return;
      }
      if (!to.write(chunk)) {
        from.pause();
        to.once("drain", () => from.resume());
      }
    };
    from.on("data", pass);
    from.on("end", () => {
      if (!closed) to.end();
    });
    from.on("close", () => {
      if (!closed) {
        closed = true;
        finish();
      }
      to.end();
      timer(() => to.destroy(), CLOSE_GRACE_MS).unref();
    });
    from.on("error", () => from.destroy());
    return pass;
  };
  const toBackend = relay(client, upstream, fromClient, true);
  const toClient = relay(upstream, client, fromBackend, false);
  if (clientHead.length) toBackend(clientHead);
  if (backend.head.length) toClient(backend.head);
}
