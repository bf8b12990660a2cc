import { randomBytes } from "node:crypto";

/** WebSocket opcodes (RFC 6455 §5.2). */
export const OP = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** One whole frame, unmasked, as the frame reader hands it over when it collects payloads. */
export interface Frame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Uint8Array;
}

/** What a frame reader found wrong in the bytes it was fed. */
export interface FrameOverflow {
  /** Offset in the fed chunk where the frame that overflows starts (bytes before it are whole frames). */
  readonly at: number;
  /** False when that frame's header began in an earlier chunk (already passed on): the receiver is mid-frame. */
  readonly clean: boolean;
}

/**
 * Follows the frames of one direction of a WebSocket connection as bytes arrive, without copying
 * them: it reads each frame's header and counts its payload, so it knows where frames begin and
 * how large the message being sent has grown. A data message (all its frames together) larger than
 * `maxMessageBytes` is reported at the header that would pass the limit, before its payload is
 * passed on. With `collect`, payloads are unmasked and handed over frame by frame.
 */
export class FrameReader {
  readonly #max: number;
  readonly #onFrame: ((frame: Frame) => void) | undefined;
  readonly #header = new Uint8Array(14);
  #headerLength = 0;
  #remaining = 0;
  #opcode = 0;
  #fin = false;
  #mask: Uint8Array | undefined;
  #maskOffset = 0;
  #parts: Uint8Array[] = [];
  #messageBytes = 0;

  constructor(maxMessageBytes: number, onFrame?: (frame: Frame) => void) {
    this.#max = maxMessageBytes;
    this.#onFrame = onFrame;
  }

  /** True between frames: a frame written now into this direction's stream would not split one. */
  get atBoundary(): boolean {
    return this.#headerLength === 0 && this.#remaining === 0;
  }

  /** Reads a chunk; returns where a message passes the limit, or undefined when all is well. */
  feed(chunk: Uint8Array): FrameOverflow | undefined {
    let i = 0;
    const length = chunk.length;
    while (i < length) {
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, length - i);
        if (this.#onFrame) this.#collect(chunk.subarray(i, i + n));
        this.#remaining -= n;
        i += n;
        if (this.#remaining === 0) this.#frameEnd();
        continue;
      }
      const start = i;
      const startedHere = this.#headerLength === 0;
      while (i < length && this.#headerLength < this.#needed()) this.#header[this.#headerLength++] = chunk[i++]!;
      if (this.#headerLength < this.#needed()) break;
      const overflow = this.#headerDone();
      if (overflow) return { at: startedHere ? start : 0, clean: startedHere };
      if (this.#remaining === 0) this.#frameEnd();
    }
    return undefined;
  }

  /** How many header bytes the frame being read has (known once its first two bytes are in). */
  #needed(): number {
    if (this.#headerLength < 2) return 2;
    const second = this.#header[1]!;
    const len7 = second & 0x7f;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (second & 0x80 ? 4 : 0);
  }

  /** Parses a complete header; true when the frame makes its message pass the limit. */
  #headerDone(): boolean {
    const h = this.#header;
    this.#fin = (h[0]! & 0x80) !== 0;
    this.#opcode = h[0]! & 0x0f;
    const len7 = h[1]! & 0x7f;
    let offset = 2;
    let payload = len7;
    if (len7 === 126) {
      payload = (h[2]! << 8) | h[3]!;
      offset = 4;
    } else if (len7 === 127) {
      payload = (h[2]! * 2 ** 24 + ((h[3]! << 16) | (h[4]! << 8) | h[5]!)) * 2 ** 32 + h[6]! * 2 ** 24 + ((h[7]! << 16) | (h[8]! << 8) | h[9]!);
      offset = 10;
    }
    this.#mask = h[1]! & 0x80 ? h.slice(offset, offset + 4) : undefined;
    this.#maskOffset = 0;
    this.#headerLength = 0;
    this.#remaining = payload;
    if (this.#opcode < 8) {
      const total = (this.#opcode === OP.continuation ? this.#messageBytes : 0) + payload;
      if (total > this.#max) return true;
      this.#messageBytes = total;
    }
    return false;
  }

  #collect(part: Uint8Array): void {
    if (this.#mask) {
      const copy = new Uint8Array(part.length);
      const mask = this.#mask;
      const m = this.#maskOffset;
      for (let j = 0; j < part.length; j++) copy[j] = part[j]! ^ mask[(m + j) & 3]!;
      this.#maskOffset = (m + part.length) & 3;
      this.#parts.push(copy);
    } else this.#parts.push(part.slice());
  }

  #frameEnd(): void {
    if (this.#opcode < 8 && this.#fin) this.#messageBytes = 0;
    if (!this.#onFrame) return;
    const parts = this.#parts;
    this.#parts = [];
    this.#onFrame({ fin: this.#fin, opcode: this.#opcode, payload: parts.length === 1 ? parts[0]! : concat(parts) });
  }
}

/** The parts as one array. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * One frame, whole (FIN set). `masked`: as a client sends it (to a backend), with a fresh random
 * mask; unmasked as a server sends it (to a client).
 */
export function encodeFrame(opcode: number, payload: Uint8Array, masked: boolean): Uint8Array {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const headerLength = 2 + lengthBytes + (masked ? 4 : 0);
  const out = new Uint8Array(headerLength + length);
  out[0] = 0x80 | opcode;
  out[1] = (masked ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) {
    out[2] = length >> 8;
    out[3] = length & 0xff;
  } else if (lengthBytes === 8) {
    const high = Math.floor(length / 2 ** 32);
    new DataView(out.buffer).setUint32(2, high);
    new DataView(out.buffer).setUint32(6, length >>> 0);
  }
  if (!masked) {
    out.set(payload, headerLength);
    return out;
  }
  const mask = randomBytes(4);
  out.set(mask, headerLength - 4);
  for (let j = 0; j < length; j++) out[headerLength + j] = payload[j]! ^ mask[j & 3]!;
  return out;
}

/** A close frame's payload: the code and a reason of at most 123 bytes; none for 1005 (no status). */
export function closePayload(code: number, reason = ""): Uint8Array {
  if (code === 1005 || code === 1006 || code === 1015) return new Uint8Array(0);
  const text = new TextEncoder().encode(reason).subarray(0, 123);
  const out = new Uint8Array(2 + text.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

/** The code and reason of a close frame's payload (1005 when it carries none). */
export function parseClose(payload: Uint8Array): { code: number; reason: string } {
  if (payload.length < 2) return { code: 1005, reason: "" };
  return { code: (payload[0]! << 8) | payload[1]!, reason: new TextDecoder().decode(payload.subarray(2)) };
}
