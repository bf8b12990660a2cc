/**
 * State that stateful policies keep between requests (rate limits, quotas, concurrency slots and a
 * small cache), behind one interface so that a shared store (Redis) can replace the in-process one
 * later. Every method is synchronous: host functions run inside a guest call and must not await. A
 * remote store would keep a local view (as APIM's gateways do) and reconcile it outside the call.
 */

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

interface Window {
  count: number;
  /** `Date.now()` when this window ends. */
  ends: number;
}

interface CacheEntry {
  readonly value: string;
  readonly expires: number;
}

/** Limits of the in-process store, so that a flood of distinct keys cannot grow it without bound. */
export interface MemoryStoreLimits {
  /** Counters kept at most; beyond it expired ones are dropped first, then the oldest. */
  readonly counters: number;
  /** Cache entries kept at most. */
  readonly cacheEntries: number;
  /** Largest cached value, in UTF-16 code units. */
  readonly cacheValueLength: number;
}

/** Defaults for the in-process store. */
export const DEFAULT_STORE_LIMITS: MemoryStoreLimits = { counters: 100_000, cacheEntries: 10_000, cacheValueLength: 64 * 1024 };

/**
 * The in-process store: fixed windows per counter key, a TTL cache, and concurrency slot counts,
 * each bounded (oldest entries go first when full). Shared by every pipeline of the process, so
 * counters survive configuration swaps.
 */
export class MemoryStateStore implements PolicyStateStore {
  readonly #counters = new Map<string, Window>();
  readonly #cache = new Map<string, CacheEntry>();
  readonly #slots = new Map<string, number>();

  constructor(readonly limits: MemoryStoreLimits = DEFAULT_STORE_LIMITS) {}

  counterAdd(key: string, windowMs: number, delta: number, limit: number, now: number): CounterResult {
    let window = this.#counters.get(key);
    if (!window || window.ends <= now) {
      if (window) this.#counters.delete(key);
      else if (this.#counters.size >= this.limits.counters) this.#evictCounters(now);
      window = { count: 0, ends: now + Math.max(1, windowMs) };
      this.#counters.set(key, window);
    }
    const next = window.count + delta;
    const accepted = limit < 0 || next <= limit;
    if (accepted) window.count = next;
    return { accepted, count: window.count, resetMs: window.ends - now };
  }

  #evictCounters(now: number): void {
    for (const [key, window] of this.#counters) if (window.ends <= now) this.#counters.delete(key);
    // Still full: the oldest windows (first inserted) go.
    for (const key of this.#counters.keys()) {
      if (this.#counters.size < this.limits.counters) break;
      this.#counters.delete(key);
    }
  }

  cacheGet(key: string, now: number): string | undefined {
    const entry = this.#cache.get(key);
    if (!entry) return undefined;
    if (entry.expires <= now) {
      this.#cache.delete(key);
      return undefined;
    }
    return entry.value;
  }

  cacheSet(key: string, value: string, ttlMs: number, now: number): void {
    this.#cache.delete(key);
    if (ttlMs <= 0) return;
    if (value.length > this.limits.cacheValueLength) {
      throw new Error(`cache value of ${value.length} characters is larger than the limit of ${this.limits.cacheValueLength}`);
    }
    if (this.#cache.size >= this.limits.cacheEntries) {
      for (const [k, entry] of this.#cache) if (entry.expires <= now) this.#cache.delete(k);
      for (const k of this.#cache.keys()) {
        if (this.#cache.size < this.limits.cacheEntries) break;
        this.#cache.delete(k);
      }
    }
    this.#cache.set(key, { value, expires: now + ttlMs });
  }

  acquire(key: string, max: number): (() => void) | undefined {
    const used = this.#slots.get(key) ?? 0;
    if (used >= max) return undefined;
    this.#slots.set(key, used + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#slots.get(key) ?? 1) - 1;
      if (left <= 0) this.#slots.delete(key);
      else this.#slots.set(key, left);
    };
  }

  /** How many counters, cache entries and concurrency keys are held (for tests and metrics). */
  get sizes(): { counters: number; cache: number; slots: number } {
    return { counters: this.#counters.size, cache: this.#cache.size, slots: this.#slots.size };
  }
}

let store: PolicyStateStore = new MemoryStateStore();

/** The process's policy state store. */
export function policyState(): PolicyStateStore {
  return store;
}

/** Replaces the process's policy state store (a shared one, or a fresh one in tests); returns the previous. */
export function setPolicyState(next: PolicyStateStore): PolicyStateStore {
  const previous = store;
  store = next;
  return previous;
}
