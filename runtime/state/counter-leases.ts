/**
 * Calls a gateway has taken ahead from busy shared counters (`cache.redis.prefetch`,
 * docs/shared-state.md#busy-counters-calls-taken-ahead). A counter that this process counts often
 * (at least ten calls in a second) asks Redis, with one of its steps, for a few more calls than the
 * step needs; Redis grants them only under the limit (never more than an eighth of what is left),
 * and the next calls on that counter are answered here, without a round trip, until the grant is
 * used up or its window ends. A top-up is asked for in the background before the grant runs out, so
 * a busy counter's requests do not wait for Redis at all.
 *
 * Granted calls are counted in Redis at once, so the gateways together never admit more than the
 * limit; calls one gateway holds are not available to the others until they are used or their
 * window ends. A counter Redis refused a call on is remembered as full until its window ends, and
 * the calls no grant answers are refused here meanwhile. Only steps whose count the request never
 * shows (a rate limit or quota without remaining-calls headers or variables: SharedCountingStep's
 * `silentWhenAccepted`) are answered here; `cache.redis.prefetch: 0` turns all of it off.
 */

/** Calls per second (in this process, on one counter) for which one call is taken ahead: a tenth of a second's worth. */
const CALLS_PER_PREFETCHED = 10;
/** Length of the buckets the calls on a counter are counted in, in ms. */
const RATE_BUCKET_MS = 1_000;
/** Most counters followed at once; the oldest is forgotten first (its unused calls with it). */
const MAX_LEASES = 10_000;

/** What this process holds of one counter. */
interface Lease {
  /** Calls granted and not used yet. */
  tokens: number;
  /** When the window those calls belong to ends (Date.now() clock, from the time the grant was asked for). */
  windowEnd: number;
  /** Redis's count after the last step this process saw, plus the granted calls used since. */
  count: number;
  /** Start of the current rate bucket, and the calls counted in it and in the one before. */
  bucketStart: number;
  calls: number;
  previousCalls: number;
  /** A step asking for calls ahead is on its way to Redis (one at a time per counter). */
  asking: boolean;
  /** Redis refused a call on the counter: until `windowEnd`, calls the grant cannot answer are refused here. */
  full: boolean;
}

/**
 * A call answered here: accepted from a grant, or refused because Redis refused the counter in this
 * window already; the count as this process knows it, and the time left in the window.
 */
export interface LeaseTaken {
  readonly accepted: boolean;
  readonly count: number;
  readonly resetMs: number;
}

/** The grants of one gateway process, by Redis key (see the file's comment). */
export class CounterLeases {
  readonly #leases = new Map<string, Lease>();

  /** @param max most calls asked for ahead at once on one counter (`cache.redis.prefetch`; 0: never). */
  constructor(readonly max: number) {}

  /** Number of counters followed (for tests). */
  get size(): number {
    return this.#leases.size;
  }

  /**
   * Whether each of `keys` holds at least its `deltas` in calls granted and unexpired; if every one
   * does, takes them and returns each call's count and time left, else takes nothing. A key given
   * twice is never answered here. One key alone may also be refused here (takeOne).
   */
  take(keys: readonly string[], deltas: readonly number[], now: number): LeaseTaken[] | undefined {
    if (keys.length === 1) {
      const one = this.takeOne(keys[0]!, deltas[0]!, now);
      return one && [one];
    }
    for (let i = 0; i < keys.length; i++) {
      const lease = this.#leases.get(keys[i]!);
      if (!lease || lease.tokens < deltas[i]! || now >= lease.windowEnd || (i > 0 && keys.indexOf(keys[i]!) !== i)) return undefined;
    }
    return keys.map((key, i) => this.#use(this.#leases.get(key)!, deltas[i]!, now));
  }

  /**
   * `take` for one counter (most policies have one): accepted from the grant; or, when the grant
   * cannot answer and Redis refused a call on the counter in this window, refused without a round
   * trip (a client over its limit does not cost a round trip per call); else undefined (nothing taken).
   */
  takeOne(key: string, delta: number, now: number): LeaseTaken | undefined {
    const lease = this.#leases.get(key);
    if (!lease || now >= lease.windowEnd) return undefined;
    if (lease.tokens >= delta) return this.#use(lease, delta, now);
    if (!lease.full) return undefined;
    this.#counted(lease, now);
    return { accepted: false, count: lease.count, resetMs: lease.windowEnd - now };
  }

  #use(lease: Lease, delta: number, now: number): LeaseTaken {
    this.#counted(lease, now);
    lease.tokens -= delta;
    lease.count += delta;
    return { accepted: true, count: lease.count, resetMs: lease.windowEnd - now };
  }

  /**
   * Counts a call on `key` that goes to Redis, and says how many calls its step should ask for
   * ahead (0 for a counter this process does not call often, or while another step is asking).
   */
  ask(key: string, now: number): number {
    if (this.max === 0) return 0;
    let lease = this.#leases.get(key);
    if (!lease) {
      if (this.#leases.size >= MAX_LEASES) this.#leases.delete(this.#leases.keys().next().value!);
      lease = { tokens: 0, windowEnd: 0, count: 0, bucketStart: now, calls: 0, previousCalls: 0, asking: false, full: false };
      this.#leases.set(key, lease);
    }
    this.#counted(lease, now);
    if (lease.asking) return 0;
    const reserve = this.#reserve(lease);
    if (reserve > 0) lease.asking = true;
    return reserve;
  }

  /**
   * How many calls a background top-up of `key` should ask for now: when what is left of its grant
   * is under half of what a step would ask for, and no step is asking already; 0 otherwise.
   */
  topUp(key: string): number {
    const lease = this.#leases.get(key);
    if (!lease || lease.asking || lease.full) return 0;
    const reserve = this.#reserve(lease);
    if (reserve === 0 || lease.tokens * 2 >= reserve) return 0;
    lease.asking = true;
    return reserve;
  }

  /**
   * Records Redis's answer to a step on `key` that asked for calls ahead (`asked` true) or not:
   * whether it accepted a call (undefined for a top-up, which carries none), the count, the
   * window's time left (counted from `sentAt`, when the step was asked for, so that what is kept
   * ends no later than the window in Redis), the calls granted, and the window's length.
   *
   * Whether the answer is about the window the lease holds calls of is told by where the window
   * ends: every estimate of one window's end lies within a round trip before it, and the next
   * window ends a whole window later. Calls held from an ended window are never carried into the
   * next one (they were counted in the old one), even when the answer was asked for before the
   * old window's end as this process estimated it.
   */
  answered(
    key: string,
    asked: boolean,
    accepted: boolean | undefined,
    count: number,
    ttlMs: number,
    granted: number,
    sentAt: number,
    windowMs: number,
  ): void {
    const lease = this.#leases.get(key);
    if (!lease) return;
    if (asked) lease.asking = false;
    const windowEnd = sentAt + ttlMs;
    const sameWindow = lease.windowEnd > 0 && windowEnd < lease.windowEnd + windowMs / 2;
    if (accepted === false || granted > 0) {
      if (!sameWindow) lease.tokens = 0;
      lease.tokens += granted;
      lease.windowEnd = sameWindow ? Math.max(lease.windowEnd, windowEnd) : windowEnd;
    }
    // Refused: remembered for the window (calls still held in it stay usable until it ends).
    if (accepted === false) lease.full = true;
    else if (accepted || granted > 0) lease.full = false;
    lease.count = count;
  }

  /** A step that asked for calls ahead failed: another may ask. */
  failed(key: string): void {
    const lease = this.#leases.get(key);
    if (lease) lease.asking = false;
  }

  /** Gives back calls taken from a grant that a request did not use (the policy stopped at an earlier counter). */
  giveBack(key: string, delta: number, now: number): void {
    const lease = this.#leases.get(key);
    if (lease && now < lease.windowEnd) {
      lease.tokens += delta;
      lease.count -= delta;
    }
  }

  /** Counts one call in the lease's rate buckets. */
  #counted(lease: Lease, now: number): void {
    const since = now - lease.bucketStart;
    if (since >= RATE_BUCKET_MS) {
      lease.previousCalls = since < 2 * RATE_BUCKET_MS ? lease.calls : 0;
      lease.calls = 0;
      lease.bucketStart = now;
    }
    lease.calls += 1;
  }

  /** A tenth of a second's worth of this process's calls on the counter, at most `max`. */
  #reserve(lease: Lease): number {
    return Math.min(this.max, Math.floor(Math.max(lease.calls, lease.previousCalls) / CALLS_PER_PREFETCHED));
  }
}
