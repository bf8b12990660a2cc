/**
 * A counting built-in (rate-limit, rate-limit-by-key, quota, quota-by-key, limit-concurrency) whose
 * counters and concurrency slots live in Redis (runtime/state/shared-counters.ts) rather than in the
 * process. Host functions are synchronous (they run inside the guest's call), so Redis is asked
 * between two runs of the guest:
 *
 * 1. a rehearsal on a copy of the exchange (what the guest changes there is thrown away) whose
 *    store records every `portico_counter_add` and `portico_concurrency_acquire` and answers them
 *    as accepted;
 * 2. one pipelined round trip applies the recorded calls on Redis, each atomically;
 * 3. the real run, whose store answers the same calls, in the same order, with Redis's results.
 *
 * A silent built-in (below) may skip step 2: its call is answered from the calls this process took
 * ahead on a busy counter, or refused when Redis refused that counter in its current window
 * (SharedCounters.fromLeases, `cache.redis.prefetch`).
 *
 * A built-in that changes nothing on a request it lets through (SHARED_COUNTER_POLICIES'
 * `silentWhenAccepted`: a rate limit or quota without remaining-calls headers, variables or
 * bandwidth) is not run a second time when Redis accepted every counter: the real run would find
 * the same counters accepted and do nothing; the exchange gets the last counter's reset time, as
 * that run would have set it. Refused counters are always answered by the real run.
 *
 * A real run that asks for other counters than the rehearsal (a policy whose counters depend on
 * something that changed between the runs) fails the policy; one that stops earlier (an earlier
 * counter was refused) has its unused increments taken back. When Redis is down, slow or fails,
 * `redis-failure` decides: `open` runs the guest once on the in-process counters, `closed` answers
 * 503 problem+json. Without Redis this step is never made: the chain runs the policy as before.
 */
import { SHARED_COUNTER_POLICIES } from "../../config/snapshot/snapshot.ts";
import { problemBody, problemHeaders, PROBLEMS } from "../http/problem.ts";
import type { Logger } from "../observability/log.ts";
import type { CounterCall, SharedCounters, SlotCall } from "../state/shared-counters.ts";
import type { PolicyExchange } from "./abi.ts";
import type { ChainStep, FailureMode } from "./chain.ts";
import type { CounterResult, PolicyStateStore } from "./state.ts";

/** What a policy with shared counters does while Redis is unavailable: count in-process (`open`) or answer 503 (`closed`). */
export type RedisFailureMode = "open" | "closed";

/** Most counters one policy call may ask for (the built-ins ask for one or two). */
const MAX_CALLS = 16;

/** The store of the rehearsal: records the counter and slot calls, answers them as accepted, changes nothing. */
class Rehearsal implements PolicyStateStore {
  readonly calls: CounterCall[] = [];
  readonly slots: SlotCall[] = [];
  constructor(readonly local: PolicyStateStore) {}

  counterAdd(key: string, windowMs: number, delta: number, limit: number): CounterResult {
    if (this.calls.length >= MAX_CALLS) throw new Error(`policy asked for more than ${MAX_CALLS} shared counters in one call`);
    this.calls.push({ key, windowMs, delta, limit });
    return { accepted: true, count: Math.max(0, delta), resetMs: windowMs };
  }
  cacheGet(key: string, now: number): string | undefined {
    return this.local.cacheGet(key, now);
  }
  cacheSet(): void {}
  acquire(key: string, max: number): () => void {
    if (this.slots.length >= MAX_CALLS) throw new Error(`policy asked for more than ${MAX_CALLS} shared concurrency slots in one call`);
    this.slots.push({ key, max });
    return () => {};
  }
}

/** The store of the real run: answers the rehearsed counter and slot calls with Redis's results, in order. */
class Replay implements PolicyStateStore {
  used = 0;
  slotsUsed = 0;
  constructor(
    readonly local: PolicyStateStore,
    readonly calls: readonly CounterCall[],
    readonly results: readonly CounterResult[],
    readonly slots: readonly SlotCall[],
    readonly holders: readonly (string | undefined)[],
    readonly counters: SharedCounters,
  ) {}

  counterAdd(key: string, windowMs: number, delta: number, limit: number): CounterResult {
    const call = this.calls[this.used];
    if (!call || call.key !== key || call.windowMs !== windowMs || call.delta !== delta || call.limit !== limit) {
      throw new Error("policy asked for other shared counters than in its rehearsal (its counter calls must depend only on the request)");
    }
    return this.results[this.used++]!;
  }
  cacheGet(key: string, now: number): string | undefined {
    return this.local.cacheGet(key, now);
  }
  cacheSet(key: string, value: string, ttlMs: number, now: number): void {
    this.local.cacheSet(key, value, ttlMs, now);
  }
  acquire(key: string, max: number): (() => void) | undefined {
    const slot = this.slots[this.slotsUsed];
    if (!slot || slot.key !== key || slot.max !== max) {
      throw new Error("policy asked for other shared concurrency slots than in its rehearsal (its keys must depend only on the request)");
    }
    const holder = this.holders[this.slotsUsed++];
    if (holder === undefined) return undefined;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.counters.release(key, holder);
    };
  }
}

/**
 * A copy of the exchange for the rehearsal: what the guest may change is copied, the rest is shared.
 * A spread (own properties) rather than an object inheriting from the exchange: measured on Bun,
 * `Object.create` plus `Object.assign` was 8 % of a shared step's CPU time. A silent policy's
 * rehearsal (every counter answered as accepted) changes no header by that policy's definition,
 * and visiblyChanged does not compare header values, so its copy shares the headers (a Headers copy
 * was about 0.7 µs of a request on Bun).
 */
function rehearsalOf(exchange: PolicyExchange, store: Rehearsal, silent: boolean): PolicyExchange {
  return {
    ...exchange,
    state: store,
    logger: undefined,
    requestHeaders: silent ? exchange.requestHeaders : new Headers(exchange.requestHeaders),
    responseHeaders: silent || !exchange.responseHeaders ? exchange.responseHeaders : new Headers(exchange.responseHeaders),
    reply: exchange.reply && { ...exchange.reply, headers: new Headers(exchange.reply.headers) },
    variables: exchange.variables && new Map(exchange.variables),
    deferred: exchange.deferred?.slice(),
    releases: [],
    meters: exchange.meters?.map((m) => ({ ...m })),
  };
}

/**
 * Whether the rehearsal left a mark on its copy that the exchange does not have: an answer, a
 * deferred header change, a byte meter, a held slot, a variable, a rewritten path or query. A check
 * behind SHARED_COUNTER_POLICIES' `silentWhenAccepted` (a policy that did change something is run
 * for real); header values are not compared.
 */
function visiblyChanged(copy: PolicyExchange, exchange: PolicyExchange): boolean {
  return copy.reply !== undefined || (copy.deferred?.length ?? 0) !== (exchange.deferred?.length ?? 0) ||
    (copy.meters?.length ?? 0) !== (exchange.meters?.length ?? 0) || (copy.releases?.length ?? 0) !== 0 ||
    (copy.variables?.size ?? 0) !== (exchange.variables?.size ?? 0) || copy.rest !== exchange.rest || copy.search !== exchange.search;
}

/** Where a shared step reports (the gateway's log and the counters' metrics). */
export interface SharedStepContext {
  readonly counters: SharedCounters;
  readonly logger?: Logger;
}

/** A WebAssembly step of a counting built-in, with its counters in Redis (see the file's comment). */
export class SharedCountingStep implements ChainStep {
  readonly #anchored: boolean;

  constructor(
    readonly inner: ChainStep,
    readonly redisFailure: RedisFailureMode,
    readonly context: SharedStepContext,
    /** Whether the policy, with its parameters, changes nothing on a request whose counters were all accepted (see the file's comment). */
    readonly silentWhenAccepted = false,
  ) {
    this.#anchored = SHARED_COUNTER_POLICIES.get(inner.name)?.anchored ?? false;
  }

  get name(): string {
    return this.inner.name;
  }
  get failure(): FailureMode {
    return this.inner.failure;
  }
  get body() {
    return this.inner.body;
  }
  get memoryPages(): number | undefined {
    return this.inner.memoryPages;
  }
  has(hook: string): boolean {
    return this.inner.has(hook);
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  async call(hook: string, exchange: PolicyExchange): Promise<number | void> {
    const { counters } = this.context;
    const local = exchange.state;
    if (!counters.up || !local) return this.#unavailable(hook, exchange);
    const rehearsal = new Rehearsal(local);
    const copy = rehearsalOf(exchange, rehearsal, this.silentWhenAccepted);
    const rehearsed = (await this.inner.call(hook, copy)) ?? 0;
    const { calls, slots } = rehearsal;
    if (calls.length === 0 && slots.length === 0) return rehearsed + ((await this.inner.call(hook, exchange)) ?? 0);
    const now = Date.now();
    const leased = this.silentWhenAccepted && slots.length === 0;
    // A busy counter of a silent policy may answer from the calls this process took ahead (no round trip).
    let results = leased ? counters.fromLeases(calls, this.#anchored, now) : undefined;
    const fromLease = results !== undefined;
    let holders: (string | undefined)[] = [];
    if (!results) {
      try {
        // Counters and slots in the same pipelined round trip, bounded by one timeout.
        [results, holders] = await counters.round(calls, slots, this.#anchored, now, leased);
      } catch {
        return rehearsed + ((await this.#unavailable(hook, exchange)) ?? 0);
      }
    }
    if (this.silentWhenAccepted && slots.length === 0 && results.every((r) => r.accepted) && !visiblyChanged(copy, exchange)) {
      exchange.counterResetMs = results[results.length - 1]!.resetMs;
      return rehearsed;
    }
    const replay = new Replay(local, calls, results, slots, holders, counters);
    const writable = exchange as { state?: PolicyStateStore };
    writable.state = replay;
    let fuel: number | void;
    try {
      fuel = await this.inner.call(hook, exchange);
    } finally {
      writable.state = local;
      // Increments applied for counters the real run never reached (an earlier one refused, or the run failed) are taken back, and slots given back.
      for (let i = replay.used; i < calls.length; i++) if (results[i]!.accepted) counters.takeBack(calls[i]!, this.#anchored, now, fromLease);
      for (let i = replay.slotsUsed; i < slots.length; i++) if (holders[i] !== undefined) counters.release(slots[i]!.key, holders[i]!);
    }
    if (exchange.meters) this.#shareMeters(exchange, local);
    return rehearsed + (fuel ?? 0);
  }

  /** Redis is down, slow or failed: in-process counters (`open`) or 503 (`closed`). */
  #unavailable(hook: string, exchange: PolicyExchange): number | void | Promise<number | void> {
    const { counters } = this.context;
    if (this.redisFailure === "open") {
      counters.fallbacks += 1;
      return this.inner.call(hook, exchange);
    }
    counters.refusals += 1;
    const problem = {
      kind: "shared-state-unavailable",
      title: PROBLEMS["shared-state-unavailable"].title,
      status: PROBLEMS["shared-state-unavailable"].status,
      headers: { "retry-after": "1" },
    };
    const body = problemBody(exchange.traceId === undefined ? problem : { ...problem, extensions: { traceId: exchange.traceId } });
    exchange.reply = { status: problem.status, headers: problemHeaders(problem), body };
  }

  /** Bandwidth meters this policy attached count their bytes in Redis too (in-process when Redis does not take them). */
  #shareMeters(exchange: PolicyExchange, local: PolicyStateStore): void {
    const { counters } = this.context;
    const anchored = this.#anchored;
    const prefix = `${this.name}\u0000`;
    for (const meter of exchange.meters!) {
      if (meter.shared || !meter.key.startsWith(prefix)) continue;
      meter.shared = (bytes, now) => {
        void counters.addBytes(meter.key, meter.windowMs, anchored, bytes, now).then((taken) => {
          if (!taken) local.counterAdd(meter.key, meter.windowMs, bytes, -1, now);
        });
      };
    }
  }
}
