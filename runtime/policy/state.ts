/**
 * State that stateful policies keep between requests (rate limits, quotas, concurrency slots and a
 * small cache), behind one interface so that a shared store (Redis) can replace the in-process one
 * later. Every method is synchronous: host functions run inside a guest call and must not await. A
 * remote store would keep a local view (as APIM's gateways do) and reconcile it outside the call.
 */
import { storedKey } from "./state-key.ts";

/** What a counter increment answered. */
export interface CounterResult {
  /** Whether the increment was applied (it is refused when it would pass the limit). */
  readonly accepted: boolean;
  /** The counter's value in the current window after the call. */
  readonly count: number;
  /** Milliseconds until the current window ends and the counter starts again from zero. */
  readonly resetMs: number;
}

/** The state store behind the ABI's counter, cache and concurrency host functions. */
export interface PolicyStateStore {
  /**
   * Adds `delta` to the counter `key` in its current window of `windowMs` (a window starts with the
   * first increment after the previous one ended), unless the result would pass `limit` (a negative
   * limit means none). `now` is `Date.now()`.
   */
  counterAdd(key: string, windowMs: number, delta: number, limit: number, now: number): CounterResult;
  /** The value of a cache entry, or undefined when absent or expired. */
  cacheGet(key: string, now: number): string | undefined;
  /** Stores a cache entry for `ttlMs` milliseconds (0 or less removes it). */
  cacheSet(key: string, value: string, ttlMs: number, now: number): void;
  /**
   * Takes one of `max` concurrency slots for `key`; returns a function that gives it back (call it
   * once), or undefined when all slots are taken.
   */
  acquire(key: string, max: number): (() => void) | undefined;
}

/** What the in-process store holds and has dropped, for `/metrics`. */
export interface StateStoreStats {
  /** Bytes counted for the entries held (see ENTRY_BYTES). */
  readonly bytes: number;
  /** The byte budget. */
  readonly maxBytes: number;
  /** Counters and cache entries held (a key used for both is one entry). */
  readonly entries: number;
  /** Live entries dropped so far to stay within the budget (expired ones are not counted). */
  readonly evictions: number;
}

/** Limits of the in-process store, so that a flood of distinct keys cannot grow it without bound. */
export interface MemoryStoreLimits {
  /**
   * Bytes the counters and cache entries may hold together: ENTRY_BYTES per entry, plus 2 bytes per
   * UTF-16 code unit of its stored key (see state-key.ts) and of its cached value.
   */
  readonly maxBytes: number;
  /** Largest cached value, in UTF-16 code units. */
  readonly cacheValueLength: number;
}

/** Defaults for the in-process store: 64 MiB (about 280,000 counters with short keys), cached values up to 64 Ki code units. */
const DEFAULT_STORE_LIMITS: MemoryStoreLimits = { maxBytes: 64 * 1024 * 1024, cacheValueLength: 64 * 1024 };

/**
 * Bytes counted for an entry besides its key and value: its record and its slot in the map, as
 * measured on Bun, Deno and Node (heap growth per entry with short keys, rounded up).
 */
export const ENTRY_BYTES = 160;

/** One key's state: a counter window, a cached value, or both (a policy may use one key for both). */
class Entry {
  /** The counter's value in its current window. */
  count = 0;
  /** `Date.now()` when the counter's window ends; 0 when the key has no counter. */
  ends = 0;
  /** The cached value, if any. */
  value: string | undefined = undefined;
  /** `Date.now()` when the cached value expires. */
  expires = 0;

  constructor(
    /** Bytes counted for this entry: ENTRY_BYTES, its key and its cached value. */
    public bytes: number,
  ) {}

  /** Whether nothing in this entry is in force any more at `now`. */
  dead(now: number): boolean {
    return this.ends <= now && (this.value === undefined || this.expires <= now);
  }
}

/** Expired entries at the least recently used end that a new entry removes (a bounded step, never a scan). */
const EXPIRED_PER_INSERT = 2;

/**
 * The in-process store: fixed windows per counter key, a TTL cache, and concurrency slot counts.
 * Counters and cache entries live in one Map kept in least-recently-used order (every use moves an
 * entry to the end), within a byte budget: when an entry would pass it, the least recently used
 * entries go first, each in O(1). Keys are held as state-key.ts says (a long key as a 128-bit
 * digest), so every entry costs at most ENTRY_BYTES plus 192 bytes of key plus its cached value.
 * An expired counter or cached value is never used: it is replaced or dropped when its key is next
 * used, and a new entry drops up to EXPIRED_PER_INSERT expired ones from the least recently used
 * end. Concurrency slots are held only while requests are in flight, outside the budget.
 * Shared by every pipeline of the process, so counters survive configuration swaps.
 */
export class MemoryStateStore implements PolicyStateStore, StateStoreStats {
  readonly #entries = new Map<string, Entry>();
  readonly #slots = new Map<string, number>();
  #bytes = 0;
  #evictions = 0;
  readonly limits: MemoryStoreLimits;

  constructor(limits: Partial<MemoryStoreLimits> = {}) {
    this.limits = { ...DEFAULT_STORE_LIMITS, ...limits };
  }

  counterAdd(key: string, windowMs: number, delta: number, limit: number, now: number): CounterResult {
    const entry = this.#use(storedKey(key), now);
    if (entry.ends <= now) {
      entry.count = 0;
      entry.ends = now + Math.max(1, windowMs);
    }
    const next = entry.count + delta;
    const accepted = limit < 0 || next <= limit;
    if (accepted) entry.count = next;
    return { accepted, count: entry.count, resetMs: entry.ends - now };
  }

  cacheGet(key: string, now: number): string | undefined {
    const id = storedKey(key);
    const entry = this.#entries.get(id);
    if (entry?.value === undefined) return undefined;
    if (entry.expires <= now) {
      this.#dropValue(id, entry, now);
      return undefined;
    }
    this.#entries.delete(id);
    this.#entries.set(id, entry);
    return entry.value;
  }

  cacheSet(key: string, value: string, ttlMs: number, now: number): void {
    const id = storedKey(key);
    if (ttlMs <= 0) {
      const entry = this.#entries.get(id);
      if (entry?.value !== undefined) this.#dropValue(id, entry, now);
      return;
    }
    if (value.length > this.limits.cacheValueLength) {
      throw new Error(`cache value of ${value.length} characters is larger than the limit of ${this.limits.cacheValueLength}`);
    }
    const entry = this.#use(id, now);
    const grown = 2 * (value.length - (entry.value?.length ?? 0));
    entry.value = value;
    entry.expires = now + ttlMs;
    entry.bytes += grown;
    this.#bytes += grown;
    this.#fit(entry, now);
  }

  acquire(key: string, max: number): (() => void) | undefined {
    const id = storedKey(key);
    const used = this.#slots.get(id) ?? 0;
    if (used >= max) return undefined;
    this.#slots.set(id, used + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#slots.get(id) ?? 1) - 1;
      if (left <= 0) this.#slots.delete(id);
      else this.#slots.set(id, left);
    };
  }

  /** The entry for a stored key, made if absent (within the budget), and moved to the most recently used end. */
  #use(id: string, now: number): Entry {
    let entry = this.#entries.get(id);
    if (entry) {
      this.#entries.delete(id);
      this.#entries.set(id, entry);
      return entry;
    }
    this.#dropExpiredOldest(now);
    entry = new Entry(ENTRY_BYTES + 2 * id.length);
    this.#entries.set(id, entry);
    this.#bytes += entry.bytes;
    this.#fit(entry, now);
    return entry;
  }

  /** Drops least recently used entries until the budget holds again, never `keep` (the one being written). */
  #fit(keep: Entry, now: number): void {
    while (this.#bytes > this.limits.maxBytes) {
      const id = this.#entries.keys().next().value;
      if (id === undefined) return;
      const entry = this.#entries.get(id)!;
      if (entry === keep) return;
      this.#remove(id, entry);
      if (!entry.dead(now)) this.#evictions += 1;
    }
  }

  #dropExpiredOldest(now: number): void {
    for (let i = 0; i < EXPIRED_PER_INSERT; i++) {
      const id = this.#entries.keys().next().value;
      if (id === undefined) return;
      const entry = this.#entries.get(id)!;
      if (!entry.dead(now)) return;
      this.#remove(id, entry);
    }
  }

  /** Forgets an expired cached value; the entry goes too when its counter is over as well. */
  #dropValue(id: string, entry: Entry, now: number): void {
    if (entry.ends <= now) return this.#remove(id, entry);
    const freed = 2 * entry.value!.length;
    entry.value = undefined;
    entry.bytes -= freed;
    this.#bytes -= freed;
  }

  #remove(id: string, entry: Entry): void {
    this.#entries.delete(id);
    this.#bytes -= entry.bytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get maxBytes(): number {
    return this.limits.maxBytes;
  }

  get entries(): number {
    return this.#entries.size;
  }

  get evictions(): number {
    return this.#evictions;
  }

  /** Keys with concurrency slots taken (requests in flight). */
  get slotKeys(): number {
    return this.#slots.size;
  }
}
