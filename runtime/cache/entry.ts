/**
 * A cached response as bytes, the same for the internal store and an external one: a version byte,
 * the status (2 bytes), when it was stored and when it expires (8 bytes each, ms since the epoch,
 * for `Age` and the client's `max-age`), the header count (2 bytes), each header as its name
 * length (1 byte), name, value length (4 bytes) and value, then the body to the end. Compact, no
 * text encoding of the body, and decoded without copying the body.
 */

/** A response as the cache keeps it. */
export interface CachedResponse {
  readonly status: number;
  /** Header pairs in order (names lower case), repeated names kept. */
  readonly headers: readonly (readonly [string, string])[];
  /** `Date.now()` when it was stored. */
  readonly storedAt: number;
  /** `Date.now()` when it expires. */
  readonly expiresAt: number;
  readonly body: Uint8Array;
}

const VERSION = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a response (see the file's comment); header names longer than 255 bytes are left out. */
export function encodeEntry(entry: CachedResponse): Uint8Array<ArrayBuffer> {
  const headers = entry.headers.map(([name, value]) => [encoder.encode(name), encoder.encode(value)] as const).filter(([name]) => name.length <= 255);
  let size = 1 + 2 + 8 + 8 + 2 + entry.body.byteLength;
  for (const [name, value] of headers) size += 1 + name.length + 4 + value.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = VERSION;
  view.setUint16(1, entry.status);
  view.setFloat64(3, entry.storedAt);
  view.setFloat64(11, entry.expiresAt);
  view.setUint16(19, headers.length);
  let at = 21;
  for (const [name, value] of headers) {
    out[at] = name.length;
    out.set(name, at + 1);
    at += 1 + name.length;
    view.setUint32(at, value.length);
    out.set(value, at + 4);
    at += 4 + value.length;
  }
  out.set(entry.body, at);
  return out;
}

/** Decodes an entry; undefined when the bytes are not one (another version, cut short, or not ours). */
export function decodeEntry(bytes: Uint8Array): CachedResponse | undefined {
  if (bytes.length < 21 || bytes[0] !== VERSION) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const status = view.getUint16(1);
  const storedAt = view.getFloat64(3);
  const expiresAt = view.getFloat64(11);
  const count = view.getUint16(19);
  const headers: [string, string][] = [];
  let at = 21;
  for (let i = 0; i < count; i++) {
    if (at + 1 > bytes.length) return undefined;
    const nameLength = bytes[at]!;
    if (at + 1 + nameLength + 4 > bytes.length) return undefined;
    const name = decoder.decode(bytes.subarray(at + 1, at + 1 + nameLength));
    at += 1 + nameLength;
    const valueLength = view.getUint32(at);
    if (at + 4 + valueLength > bytes.length) return undefined;
    headers.push([name, decoder.decode(bytes.subarray(at + 4, at + 4 + valueLength))]);
    at += 4 + valueLength;
  }
  if (status < 100 || status > 599 || !Number.isFinite(storedAt) || !Number.isFinite(expiresAt)) return undefined;
  return { status, headers, storedAt, expiresAt, body: bytes.subarray(at) };
}
