import { clearTimeout, setTimeout as timer } from "node:timers";
import type { OpenBackend } from "./backend.ts";
import type { RelayedConnection, WebSocketConnections } from "./connections.ts";
import { CLOSE_GRACE_MS } from "./splice.ts";
import { closePayload, concat, encodeFrame, type Frame, FrameReader, OP, parseClose } from "./frames.ts";

/** The part of Bun's ServerWebSocket the bridge uses. */
export interface BunSocket {
  readonly data: BunBridge;
  sendText(data: string): number;
  sendBinary(data: Uint8Array): number;
  ping(data?: Uint8Array): number;
  pong(data?: Uint8Array): number;
  close(code?: number, reason?: string): void;
  terminate(): void;
  getBufferedAmount(): number;
}

/**
 * Bytes Bun may hold for a client that reads slowly before the backend is no longer read: the
 * backend is paused above it and read again once Bun has sent what it holds below half of it.
 */
export const CLIENT_HIGH_WATER = 1024 * 1024;

/**
 * One WebSocket connection on Bun.serve, whose client side is a ServerWebSocket (whole messages)
 * and whose backend side is the raw connection opened by `openBackend`: backend frames are read
 * (FrameReader), assembled into messages and sent to the client; client messages are framed
 * (masked) to the backend. Close codes and reasons, pings and pongs pass both ways. Backpressure:
 * the backend is paused while Bun holds more than CLIENT_HIGH_WATER for the client; Bun cannot
 * stop reading a client, so a client whose messages pile up because the backend does not read
 * (more than that plus one message buffered) is closed with 1013 (try again later).
 */
export class BunBridge implements RelayedConnection {
  #ws: BunSocket | undefined;
  #closed = false;
  #paused = false;
  #last = performance.now();
  #idle: ReturnType<typeof timer> | undefined;
  #message: Uint8Array[] = [];
  #messageType = 0;
  readonly #reader: FrameReader;

  constructor(private readonly backend: OpenBackend, private readonly connections: WebSocketConnections) {
    this.#reader = new FrameReader(connections.maxMessageBytes, (frame) => this.#frame(frame));
  }

  /** Bun's `open`: the client's handshake is answered; relaying starts. */
  open(ws: BunSocket): void {
    this.#ws = ws;
    this.connections.add(this);
    const idleMs = this.connections.idleMs;
    const idle = this.#idle = timer(() => {
      if (performance.now() - this.#last >= idleMs) this.close(1001, "idle timeout");
      else idle.refresh();
    }, idleMs);
    const socket = this.backend.socket;
    socket.on("data", (chunk: Uint8Array) => this.#fromBackend(chunk));
    socket.on("close", () => {
      if (this.#closed) return;
      // The backend went without a close frame: the client sees the connection end abnormally too.
      this.#finish();
      ws.terminate();
    });
    socket.on("error", () => socket.destroy());
    if (this.backend.head.length) this.#fromBackend(this.backend.head);
  }

  /** Bun's `message`: a whole client message, framed to the backend. */
  message(message: string | Uint8Array): void {
    if (this.#closed) return;
    this.#last = performance.now();
    const text = typeof message === "string";
    const payload = text ? new TextEncoder().encode(message) : message;
    const socket = this.backend.socket;
    socket.write(encodeFrame(text ? OP.text : OP.binary, payload, true));
    if (socket.writableLength > CLIENT_HIGH_WATER + this.connections.maxMessageBytes) this.close(1013, "backend is not reading");
  }

  /** Bun's `drain`: Bun sent what it held for the client; the backend is read again. */
  drain(): void {
    if (this.#paused && this.#ws!.getBufferedAmount() < CLIENT_HIGH_WATER / 2) {
      this.#paused = false;
      this.backend.socket.resume();
    }
  }

  /** Bun's `ping` (Bun answers it) and `pong`: activity; a pong goes on to the backend. */
  activity(pong?: Uint8Array): void {
    this.#last = performance.now();
    if (pong && !this.#closed) this.backend.socket.write(encodeFrame(OP.pong, pong, true));
  }

  /** Bun's `close`: the client closed (or the connection ended); the backend gets the same close. */
  closed(code: number, reason: string): void {
    if (this.#closed) return;
    this.#finish();
    const socket = this.backend.socket;
    if (code === 1006 || !this.#reader.atBoundary) socket.destroy();
    else socket.end(encodeFrame(OP.close, closePayload(code, reason), true));
    timer(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Closes both sides with `code` (idle timeout, shutdown, a message too big). */
  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#ws?.close(code, reason);
    this.closed(code, reason);
  }

  #finish(): void {
    this.#closed = true;
    if (this.#idle) clearTimeout(this.#idle);
    this.connections.delete(this);
  }

  #fromBackend(chunk: Uint8Array): void {
    if (this.#closed) return;
    this.#last = performance.now();
    if (this.#reader.feed(chunk)) return this.close(1009, "message too big");
    const ws = this.#ws!;
    if (!this.#paused && ws.getBufferedAmount() > CLIENT_HIGH_WATER) {
      this.#paused = true;
      this.backend.socket.pause();
    }
  }

  #frame(frame: Frame): void {
    const ws = this.#ws!;
    switch (frame.opcode) {
      case OP.ping:
        ws.ping(frame.payload);
        return;
      case OP.pong:
        ws.pong(frame.payload);
        return;
      case OP.close: {
        const { code, reason } = parseClose(frame.payload);
        this.#finish();
        try {
          if (code === 1005) ws.close();
          else ws.close(code, reason);
        } catch {
          ws.terminate();
        }
        this.backend.socket.end(encodeFrame(OP.close, frame.payload.subarray(0, 2), true));
        timer(() => this.backend.socket.destroy(), CLOSE_GRACE_MS).unref();
        return;
      }
    }
    if (frame.opcode !== OP.continuation) this.#messageType = frame.opcode;
    this.#message.push(frame.payload);
    if (!frame.fin) return;
    const payload = this.#message.length === 1 ? this.#message[0]! : concat(this.#message);
    this.#message = [];
    let sent: number;
    if (this.#messageType === OP.text) {
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(payload);
      } catch {
        return this.close(1007, "invalid UTF-8");
      }
      sent = ws.sendText(text);
    } else sent = ws.sendBinary(payload);
    // 0: Bun dropped the message (its backpressure limit); the stream can no longer be trusted.
    if (sent === 0) this.close(1011, "message could not be delivered");
  }
}

/** The Bun.serve `websocket` options: every connection is a BunBridge (`ws.data`), with the gateway's settings. */
export function bunWebSocketOptions(connections: WebSocketConnections) {
  return {
    open: (ws: BunSocket) => ws.data.open(ws),
    message: (ws: BunSocket, message: string | Uint8Array) => ws.data.message(message),
    drain: (ws: BunSocket) => ws.data.drain(),
    close: (ws: BunSocket, code: number, reason: string) => ws.data.closed(code, reason),
    ping: (ws: BunSocket) => ws.data.activity(),
    pong: (ws: BunSocket, data: Uint8Array) => ws.data.activity(data),
    // Bun closes a client whose message passes this with 1009 before it is buffered whole.
    maxPayloadLength: connections.maxMessageBytes,
    // The bridge keeps its own idle timer (frames either way count), and sends no pings of its own.
    idleTimeout: 0,
    sendPings: false,
    perMessageDeflate: false,
    // Above CLIENT_HIGH_WATER the backend is paused; this bound is never reached by more than one message.
    backpressureLimit: CLIENT_HIGH_WATER + connections.maxMessageBytes + 64 * 1024,
    closeOnBackpressureLimit: false,
  };
}
