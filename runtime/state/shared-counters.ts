/**
 * Rate-limit and quota counters shared by every gateway on one Redis (docs/shared-state.md). A Lua
 * script does a policy's step on a counter atomically on the server (add unless the sum would pass
 * the limit; the first increment of a window sets its expiry; answer the count and the time left),
 * and all of one policy call's counters are sent together, so a request costs at most one round
 * trip (one per Cluster node that holds one of its keys).
 *
 * Steps on the same counter asked for by requests in flight together (within one turn of the event
 * loop) are sent as one script run that applies them in order, each exactly as a run of its own
 * would: one command on the wire and one script on the server for a burst of requests on a hot key,
 * instead of one per request. Each request still gets its own answer.
 *
 * Windows: a rate-limit's window starts with its first call, as in the in-process store (the key
 * expires when it ends); a quota's periods are anchored to the Unix epoch (period n covers
 * [n × length, (n + 1) × length) ms), so every replica agrees on when a quota renews, and the
 * period's number is part of its key.
 *
 * A busy counter of a policy whose counts the request never shows may take calls ahead, granted by
 * the same script under the limit, and answer its next calls without Redis (counter-leases.ts,
 * `cache.redis.prefetch`).
 */
import type { CounterResult } from "../policy/state.ts";
import { storedKey } from "../policy/state-key.ts";
import { setImmediate } from "node:timers";
import { CounterLeases } from "./counter-leases.ts";
import { type LuaScript, luaScript, type RedisConnection, RedisUnavailable } from "./redis.ts";

/** One `portico_counter_add` a policy made, as the host replays it against Redis. */
export interface CounterCall {
  /** The counter's key, already namespaced by the policy (abi.ts). */
  readonly key: string;
  readonly windowMs: number;
  readonly delta: number;
  /** The limit the sum may not pass; negative: none. */
  readonly limit: number;
}

/**
 * KEYS[1]: the counter. ARGV: one or more steps, four values each: delta, limit (negative: none),
 * window in ms (how long a window that starts now lasts), calls to take ahead (CounterLeases).
 * Applies the steps in order, each as if it ran alone, and returns four values per step: accepted
 * (0/1), count, ms left in the window, calls granted ahead. An accepted step is granted at most what
 * it asked for and at most an eighth of what is left under the limit, counted at once, so granted
 * calls never let the gateways pass the limit. A step of delta 0 (a top-up) on a counter whose window
 * has not started does nothing: the window starts with a call. A key without an expiry (written by
 * someone else) gets one, so a counter can never last for ever.
 */
const ADD = `local out = {}
for i = 1, #ARGV, 4 do
  local delta = tonumber(ARGV[i])
  local limit = tonumber(ARGV[i + 1])
  local window = tonumber(ARGV[i + 2])
  local reserve = tonumber(ARGV[i + 3])
  local current = redis.call('GET', KEYS[1])
  local count = 0
  local ttl = window
  if current then
    count = tonumber(current) or 0
    ttl = redis.call('PTTL', KEYS[1])
    if ttl < 0 then
      ttl = window
      redis.call('PEXPIRE', KEYS[1], window)
    end
  end
  local total = count + delta
  local granted = 0
  if limit >= 0 and total > limit then
    out[#out + 1] = 0
    out[#out + 1] = count
  elseif delta == 0 and not current then
    out[#out + 1] = 1
    out[#out + 1] = 0
  else
    if reserve > 0 and limit >= 0 then
      granted = math.max(0, math.min(reserve, math.floor((limit - total) / 8)))
    end
    if current then
      if delta + granted ~= 0 then redis.call('INCRBY', KEYS[1], delta + granted) end
    else
      redis.call('SET', KEYS[1], total + granted, 'PX', window)
    end
    out[#out + 1] = 1
    out[#out + 1] = total
  end
  out[#out + 1] = ttl
  out[#out + 1] = granted
end
return out`;

/** Most steps on one counter sent in one script run (a longer burst is sent as several runs). */
const MAX_BATCH = 256;

/** A step on a counter waiting for the next flush: its ARGV values and where its answer goes. */
interface PendingStep {
  readonly args: readonly [delta: string, limit: string, window: string, reserve: string];
  /** The step's counter is followed by the leases (a silent policy's): its answer is recorded there. */
  readonly leased: boolean;
  /** The step asks for calls ahead (the lease's one asking step). */
  readonly asked: boolean;
  /** When the step was asked for (the grant's window is counted from it). */
  readonly now: number;
  readonly resolve: (result: CounterResult) => void;
  readonly reject: (error: unknown) => void;
}

/** Where a background top-up's answer goes: nowhere (CounterLeases records it). */
const ignore = (): void => {};

/**
 * KEYS[1]: the concurrency slots of a key (a sorted set of holders by lease end). ARGV: max, now
 * (ms), lease (ms), the holder's id. Drops holders whose lease ended (a gateway that died holding
 * them), then takes a slot when fewer than max are held. Returns 1 (taken) or 0.
 */
const ACQUIRE = `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/**
 * How long a shared concurrency slot is held at most: a slot is given back when the response's
 * headers are ready, and one whose gateway died is taken back after this (the default
 * `net.server.timeouts.request`).
 */
export const SLOT_LEASE_MS = 300_000;

/** One `portico_concurrency_acquire` a policy made, as the host replays it against Redis. */
export interface SlotCall {
  /** The slot's key, already namespaced by the policy (abi.ts). */
  readonly key: string;
  readonly max: number;
}

/** KEYS[1]: a counter; ARGV[1]: what to take back from it (only while it exists: a window that ended is not reopened). */
const UNDO = `if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECRBY', KEYS[1], ARGV[1]) end
return 0`;

/** What the counters report, for `/metrics`. */
export interface SharedCounterStats {
  /** Policy calls counted in-process because Redis was unavailable (`redis-failure: open`). */
  readonly fallbacks: number;
  /** Requests answered 503 because Redis was unavailable (`redis-failure: closed`). */
  readonly refusals: number;
}

/** The shared counters of one gateway process, over its Redis connection. */
export class SharedCounters implements SharedCounterStats {
  fallbacks = 0;
  refusals = 0;
  readonly #prefix: string;

  readonly #slotPrefix: string;
  /** Names this process's slot holders: random per process, then a sequence number per slot. */
  readonly #holder = crypto.randomUUID();
  #held = 0;
  /** Steps waiting for the next flush, by Redis key, in the order they were asked for. */
  #pending = new Map<string, PendingStep[]>();
  #flushScheduled = false;
  /** Calls taken ahead on busy counters (`cache.redis.prefetch`). */
  readonly leases: CounterLeases;

  private constructor(
    readonly redis: RedisConnection,
    readonly add: LuaScript,
    readonly undo: LuaScript,
    readonly slot: LuaScript,
  ) {
    this.#prefix = `${redis.options.prefix}c:`;
    this.#slotPrefix = `${redis.options.prefix}s:`;
    this.leases = new CounterLeases(redis.options.prefetch ?? 0);
  }

  static async create(redis: RedisConnection): Promise<SharedCounters> {
    return new SharedCounters(redis, await luaScript(ADD), await luaScript(UNDO), await luaScript(ACQUIRE));
  }

  /**
   * Tries to take concurrency slots on Redis (sent with the counters of the same call, in the same
   * round trip); resolves with, for each, the holder's id when taken or undefined when all were held.
   */
  acquire(slots: readonly SlotCall[], now: number): Promise<(string | undefined)[]> {
    return this.redis.bounded(this.#acquire(slots, now));
  }

  #acquire(slots: readonly SlotCall[], now: number): Promise<(string | undefined)[]> {
    return Promise.all(slots.map(async (slot) => {
      const id = `${this.#holder}:${++this.#held}`;
      const args = [String(slot.max), String(now), String(SLOT_LEASE_MS), id];
      const taken = await this.redis.script(this.slot, this.#slotPrefix + storedKey(slot.key), args, false);
      return taken === 1 ? id : undefined;
    }));
  }

  /**
   * A policy call's counters and slots in one pipelined round trip, each bounded by
   * `cache.redis.timeout` (the counters from when their turn's batch is sent; see `apply` and
   * `acquire`); rejects (RedisUnavailable) when Redis is down, fails or is late.
   */
  round(
    calls: readonly CounterCall[],
    slots: readonly SlotCall[],
    anchored: boolean,
    now: number,
    leased = false,
  ): Promise<[CounterResult[], (string | undefined)[]]> {
    if (slots.length === 0) return this.apply(calls, anchored, now, leased).then((results) => [results, []]);
    return Promise.all([this.apply(calls, anchored, now, leased), this.redis.bounded(this.#acquire(slots, now))]);
  }

  /**
   * Answers `calls` from the calls this process took ahead on their counters, without Redis, when
   * every one of them has enough left in an unexpired grant (CounterLeases); undefined (and nothing
   * taken) otherwise. For a policy whose counts the request never shows (SharedCountingStep's
   * `silentWhenAccepted`) only. Asks for a top-up in the background when a grant runs low.
   */
  fromLeases(calls: readonly CounterCall[], anchored: boolean, now: number): CounterResult[] | undefined {
    if (this.leases.max === 0) return undefined;
    if (calls.length === 1) {
      const call = calls[0]!;
      const key = this.keyOf(call, anchored, now);
      const taken = this.leases.takeOne(key, call.delta, now);
      if (!taken) return undefined;
      if (taken.accepted) this.#topUpIfLow(key, call, anchored, now);
      return [taken];
    }
    const keys = calls.map((call) => this.keyOf(call, anchored, now));
    const taken = this.leases.take(keys, calls.map((call) => call.delta), now);
    if (!taken) return undefined;
    for (let i = 0; i < keys.length; i++) this.#topUpIfLow(keys[i]!, calls[i]!, anchored, now);
    return taken;
  }

  /** Asks for more calls ahead on `key` in the background when its grant runs low (CounterLeases.topUp). */
  #topUpIfLow(key: string, call: CounterCall, anchored: boolean, now: number): void {
    const reserve = this.leases.topUp(key);
    if (reserve > 0) this.#topUp(key, call, anchored, now, reserve);
  }

  /** Queues a step of delta 0 that asks for `reserve` calls ahead on a counter; its answer goes to the leases only. */
  #topUp(key: string, call: CounterCall, anchored: boolean, now: number, reserve: number): void {
    const window = Math.max(1, Math.ceil(SharedCounters.windowLeft(call.windowMs, anchored, now)));
    this.#queue(key, { args: ["0", String(call.limit), String(window), String(reserve)], leased: true, asked: true, now, resolve: ignore, reject: ignore });
  }

  /** Gives a slot back, in the background (if Redis fails meanwhile, its lease ends it). */
  release(key: string, id: string): void {
    const slot = this.#slotPrefix + storedKey(key);
    this.redis.call(slot, ["ZREM", slot, id]).catch(() => {});
  }

  /** Whether Redis may be used now; while it is not, policies fall back at once without waiting. */
  get up(): boolean {
    return this.redis.up;
  }

  /**
   * The Redis key of a counter: the prefix, the stored form of the namespaced key (long keys as a
   * digest, state-key.ts), and for an anchored window (quotas) the number of the period `now` is in.
   */
  keyOf(call: CounterCall, anchored: boolean, now: number): string {
    const key = this.#prefix + storedKey(call.key);
    return anchored ? `${key}@${Math.floor(now / call.windowMs)}` : key;
  }

  /** How long a window that starts at `now` lasts: the window, or what is left of the anchored period. */
  static windowLeft(windowMs: number, anchored: boolean, now: number): number {
    return anchored ? windowMs - (now % windowMs) : windowMs;
  }

  /**
   * Applies `calls` on Redis, each atomically, in one round trip bounded by `cache.redis.timeout`
   * (from when the turn's steps are sent); rejects (RedisUnavailable) when Redis is down, fails or is late.
   */
  apply(calls: readonly CounterCall[], anchored: boolean, now: number, leased = false): Promise<CounterResult[]> {
    if (!this.redis.up) return Promise.reject(new RedisUnavailable("Redis is unavailable"));
    if (calls.length === 1) return this.#enqueue(calls[0]!, anchored, now, leased).then((result) => [result]);
    return Promise.all(calls.map((call) => this.#enqueue(call, anchored, now, leased)));
  }

  /**
   * Queues one step on its counter for the flush at the end of this turn of the event loop; a
   * `leased` step (a silent policy's) may ask for calls ahead on a busy counter (CounterLeases).
   */
  #enqueue(call: CounterCall, anchored: boolean, now: number, leased: boolean): Promise<CounterResult> {
    const key = this.keyOf(call, anchored, now);
    const window = Math.max(1, Math.ceil(SharedCounters.windowLeft(call.windowMs, anchored, now)));
    const reserve = leased && call.limit >= 0 ? this.leases.ask(key, now) : 0;
    return new Promise<CounterResult>((resolve, reject) => {
      const args = [String(call.delta), String(call.limit), String(window), reserve === 0 ? "0" : String(reserve)] as const;
      this.#queue(key, { args, leased, asked: reserve > 0, now, resolve, reject });
    });
  }

  #queue(key: string, step: PendingStep): void {
    const queue = this.#pending.get(key);
    if (queue) queue.push(step);
    else this.#pending.set(key, [step]);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
  }

  /** Sends every counter's queued steps, one script run per counter (per MAX_BATCH steps), all in the same tick (pipelined). */
  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const pending = this.#pending;
    this.#pending = new Map();
    for (const [key, queue] of pending) {
      for (let from = 0; from < queue.length; from += MAX_BATCH) {
        this.#send(key, from === 0 && queue.length <= MAX_BATCH ? queue : queue.slice(from, from + MAX_BATCH));
      }
    }
  };

  #send(key: string, batch: readonly PendingStep[]): void {
    const args: string[] = [];
    for (const step of batch) args.push(step.args[0], step.args[1], step.args[2], step.args[3]);
    this.redis.script(this.add, key, args).then((reply) => {
      const values = reply as number[];
      if (!Array.isArray(values) || values.length !== batch.length * 4) {
        throw new Error(`the counter script answered ${values?.length} values for ${batch.length} steps`);
      }
      for (let i = 0; i < batch.length; i++) {
        const step = batch[i]!;
        const count = Number(values[i * 4 + 1]);
        const resetMs = Math.max(0, Number(values[i * 4 + 2]));
        const accepted = values[i * 4] === 1;
        if (step.leased) {
          const called = step.args[0] === "0" ? undefined : accepted;
          this.leases.answered(key, step.asked, called, count, resetMs, Number(values[i * 4 + 3]), step.now, Number(step.args[2]));
        }
        step.resolve({ accepted, count, resetMs });
      }
    }).catch((error: unknown) => {
      for (const step of batch) {
        if (step.asked) this.leases.failed(key);
        step.reject(error);
      }
    });
  }

  /**
   * Takes back an increment a policy did not use (it stopped at an earlier refused counter), in the
   * background; lost if Redis fails meanwhile (the counter then over-counts by `delta` until its window ends).
   * One answered from a grant (`fromLease`, see fromLeases) goes back to the grant instead.
   */
  takeBack(call: CounterCall, anchored: boolean, now: number, fromLease = false): void {
    if (call.delta === 0) return;
    if (fromLease) return this.leases.giveBack(this.keyOf(call, anchored, now), call.delta, now);
    this.redis.script(this.undo, this.keyOf(call, anchored, now), [String(call.delta)]).catch(() => {});
  }

  /**
   * Adds body bytes to a counter without a limit (bandwidth quotas), in the background; resolves
   * false when Redis did not take them (the caller counts them in-process).
   */
  addBytes(key: string, windowMs: number, anchored: boolean, bytes: number, now: number): Promise<boolean> {
    const call = { key, windowMs, delta: bytes, limit: -1 };
    const window = Math.max(1, Math.ceil(SharedCounters.windowLeft(windowMs, anchored, now)));
    return this.redis.script(this.add, this.keyOf(call, anchored, now), [String(bytes), "-1", String(window), "0"]).then(() => true, () => false);
  }
}
