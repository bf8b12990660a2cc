/**
 * The internal cache store: a KV (runtime/state/kv.ts) in this process, bounded in bytes
 * (`cache.internal.max-bytes`). Entries sit in a Map kept in recency order (a read or a write moves
 * an entry to the end), so reading, writing and evicting the least recently used entry are each a
 * constant number of Map operations, whatever the number of entries. Expired entries are dropped
 * when read, and otherwise age out as the least recently used. One store serves the whole process
 * (made by the gateway at start), so cached responses and values survive configuration reloads.
 */
import type { KV } from "../state/kv.ts";

/**
 * Bytes counted for an entry besides its key and value: its record and its slot in the Map (the
 * same order of size as the policy state store's ENTRY_BYTES, runtime/policy/state.ts).
 */
export const CACHE_ENTRY_OVERHEAD = 160;

interface Entry {
  readonly value: Uint8Array;
  /** `Date.now()` when it expires. */
  readonly expires: number;
  /** What it counts against the budget. */
  readonly bytes: number;
}

/** What the store holds and has dropped (for metrics and tests). */
export interface MemoryKVStats {
  readonly bytes: number;
  readonly maxBytes: number;
  readonly entries: number;
  /** Live entries dropped to stay within the budget (expired ones are not counted). */
  readonly evictions: number;
}

/** The in-process cache store (see the file's comment). */
export class MemoryKV implements KV, MemoryKVStats {
  readonly kind = "internal" as const;
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  #evictions = 0;

  /** `now` is the clock (ms), replaceable in tests. */
  constructor(readonly maxBytes: number, private readonly now: () => number = Date.now) {}

  get bytes(): number {
    return this.#bytes;
  }

  get entries(): number {
    return this.#entries.size;
  }

  get evictions(): number {
    return this.#evictions;
  }

  /** The entry's value, moved to the most recently used end; undefined when absent or expired. */
  getNow(key: string): Uint8Array | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expires <= this.now()) {
      this.#bytes -= entry.bytes;
      return undefined;
    }
    this.#entries.set(key, entry);
    return entry.value;
  }

  /**
   * Stores a value for `ttlMs`, evicting the least recently used entries until it fits; a value
   * that could never fit (larger than the whole budget) is not stored. The value is kept as given:
   * callers hand over bytes they no longer change.
   */
  setNow(key: string, value: Uint8Array, ttlMs: number): void {
    this.deleteNow(key);
    if (!(ttlMs > 0)) return;
    const bytes = CACHE_ENTRY_OVERHEAD + key.length * 2 + value.byteLength;
    if (bytes > this.maxBytes) return;
    this.#bytes += bytes;
    this.#entries.set(key, { value, expires: this.now() + ttlMs, bytes });
    if (this.#bytes <= this.maxBytes) return;
    const now = this.now();
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
      if (entry.expires > now) this.#evictions += 1;
    }
  }

  /** Removes an entry (nothing happens when it is absent). */
  deleteNow(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.getNow(key));
  }

  set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    this.setNow(key, value, ttlMs);
    return Promise.resolve();
  }

  delete(key: string): Promise<void> {
    this.deleteNow(key);
    return Promise.resolve();
  }
}
