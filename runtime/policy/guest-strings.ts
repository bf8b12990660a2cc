/**
 * Strings a policy passes to host functions by reference into its memory (ABI 1.1), decoded once
 * per place: see GuestStrings. Used by the host functions (abi.ts) and kept per instance by
 * PolicyPlugin (extism.ts).
 */

const decoder = new TextDecoder();

/** The string of `length` UTF-8 bytes at `pointer` in `memory`, decoded now. */
export function decodeAt(memory: Uint8Array, pointer: number, length: number): string {
  return decoder.decode(memory.subarray(pointer, pointer + length));
}

/** How many places GuestStrings remembers (a power of two), and the longest string it keeps. */
const REMEMBERED_PLACES = 32;
const LONGEST_REMEMBERED = 128;

/**
 * The strings one instance passed by reference, remembered by where they were in its memory. A
 * policy passes the same strings on every call (its parameters, read once; the SDK keeps their UTF-8
 * in place), so a read compares the bytes there with the copy kept here and, when they are the
 * same, returns the string decoded the first time: no view, no decoding and no new string per call.
 * A hit is exact whatever the guest did to its memory since (every byte is compared). At most
 * REMEMBERED_PLACES strings of at most LONGEST_REMEMBERED bytes are kept; longer ones are decoded
 * each time.
 */
export class GuestStrings {
  /** The buffer `#bytes` views: a memory's buffer changes only when the memory grows. */
  #buffer: ArrayBuffer | undefined;
  #bytes = new Uint8Array(0);
  readonly #pointers = new Int32Array(REMEMBERED_PLACES).fill(-1);
  readonly #copies: Uint8Array[] = Array.from({ length: REMEMBERED_PLACES }, () => new Uint8Array(0));
  readonly #values: string[] = new Array<string>(REMEMBERED_PLACES).fill("");

  /** The instance's memory as bytes (one view until the memory grows). */
  bytes(memory: WebAssembly.Memory): Uint8Array {
    const buffer = memory.buffer;
    if (buffer !== this.#buffer) {
      this.#buffer = buffer;
      this.#bytes = new Uint8Array(buffer);
    }
    return this.#bytes;
  }

  /** The string of `length` UTF-8 bytes at `pointer` in `memory`. */
  text(memory: Uint8Array, pointer: number, length: number): string {
    if (length > LONGEST_REMEMBERED) return decodeAt(memory, pointer, length);
    // The SDK's allocations are 16-byte aligned: the low bits say nothing.
    const place = (pointer >>> 4) & (REMEMBERED_PLACES - 1);
    const copy = this.#copies[place]!;
    if (this.#pointers[place] === pointer && copy.length === length) {
      let same = true;
      for (let i = 0; i < length; i++) {
        if (memory[pointer + i] !== copy[i]) {
          same = false;
          break;
        }
      }
      if (same) return this.#values[place]!;
    }
    const value = decodeAt(memory, pointer, length);
    this.#pointers[place] = pointer;
    this.#copies[place] = memory.slice(pointer, pointer + length);
    this.#values[place] = value;
    return value;
  }
}
