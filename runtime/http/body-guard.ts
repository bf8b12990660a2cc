import type { Readable } from "node:stream";

/** Limits on how a client sends a request body (`net.server.timeouts.*`, `net.server.body.*`). */
export interface BodyLimits {
  /** Longest wait for the next piece of a body while the gateway is reading it. */
  readonly idleMs: number;
  /** Slowest average rate accepted, in bytes per second of waiting (0: no minimum). */
  readonly minRate: number;
  /** Waiting time before the minimum rate applies (the start of an upload may be slow). */
  readonly minRateGraceMs: number;
  /** Longest time from the request's arrival to the end of its body. */
  readonly totalMs: number;
}

/** Which limit a client passed. */
export type BodyTimeoutReason = "idle" | "rate" | "total";

/** A request body that was cut off because its client sent it too slowly; answered 408. */
export class RequestBodyTimeout extends Error {
  constructor(readonly reason: BodyTimeoutReason, detail: string) {
    super(detail);
    this.name = "RequestBodyTimeout";
  }
}

/** What a body is read from: a web stream's reader or a Node readable's async iterator. */
interface ChunkSource {
  next(): Promise<IteratorResult<Uint8Array>>;
  /** Stops reading the source (the body failed or its consumer went away). */
  stop(reason: unknown): void;
}

/**
 * One request body as the gateway receives it: every read goes through `nextChunk`, which records
 * progress and how long the reader waited, so the guard can tell a slow client from a slow
 * consumer (time the backend spends not reading never counts against the client). Read it as an
 * async iterable (undici) or as a web stream (`fetch`), once.
 */
export class WatchedBody implements AsyncIterable<Uint8Array> {
  /** Bytes received so far. */
  bytes = 0;
  /** `performance.now()` when the current read started waiting, or -1 while nobody waits. */
  waitingSince = -1;
  /** Milliseconds spent waiting in finished reads. */
  waited = 0;
  /** Whether the body was received to its end. */
  finished = false;
  /** Whether anybody has started reading it. */
  started = false;
  /** Why the body was cut off, once it was. */
  failure: RequestBodyTimeout | undefined;
  /** Rejects the read in progress, if any (a failure must not wait for a chunk that may never come). */
  #rejectRead: ((reason: unknown) => void) | undefined;
  #onSettled: (() => void) | undefined;
  /** Told the size of every piece read (bandwidth quotas count request bytes with them). */
  #observers: ((bytes: number) => void)[] | undefined;

  constructor(
    private readonly guard: BodyGuard,
    private readonly source: ChunkSource,
    /** `performance.now()` when the request arrived. */
    readonly arrivedAt: number,
  ) {}

  /** Whether the body is through: received to its end, cut off, or given up by its reader. */
  get settled(): boolean {
    return this.finished || this.failure !== undefined || this.#cancelled || this.#errored;
  }

  #cancelled = false;
  /** The source failed (the client went away): the body is over. */
  #errored = false;

  /** Calls `done` once, when the body is settled (now, if it already is). */
  onSettled(done: () => void): void {
    if (this.settled) done();
    else this.#onSettled = done;
  }

  /** Calls `observe` with the size of every later piece of the body, as it is read. */
  onChunk(observe: (bytes: number) => void): void {
    (this.#observers ??= []).push(observe);
  }

  #settle(): void {
    this.guard.forget(this);
    const done = this.#onSettled;
    this.#onSettled = undefined;
    done?.();
  }

  /**
   * The next piece of the body; rejects with RequestBodyTimeout once a limit was passed. (Not
   * named `read`: undici calls `read(0)` on any body that has one, taking it for a Node stream.)
   */
  async nextChunk(): Promise<IteratorResult<Uint8Array>> {
    if (this.failure) throw this.failure;
    this.started = true;
    const since = (this.waitingSince = performance.now());
    let result: IteratorResult<Uint8Array>;
    try {
      // Not Promise.race with a long-lived "failed" promise: every race would stay attached to it,
      // and with it every chunk read, until the body ends.
      result = await new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
        this.#rejectRead = reject;
        this.source.next().then(resolve, reject);
      });
    } catch (error) {
      if (!this.settled) {
        this.#errored = true;
        this.#settle();
      }
      throw error;
    } finally {
      this.#rejectRead = undefined;
      this.waited += performance.now() - since;
      this.waitingSince = -1;
    }
    if (result.done) {
      // A cancelled source also ends its pending read with `done`: that is not the body's end.
      if (this.settled) return result;
      this.finished = true;
      this.#settle();
    } else {
      this.bytes += result.value.byteLength;
      if (this.#observers) { for (const observe of this.#observers) observe(result.value.byteLength); }
    }
    return result;
  }

  /** Cuts the body off: pending and later reads reject with `failure`, and the source is no longer read. */
  fail(failure: RequestBodyTimeout): void {
    if (this.settled) return;
    this.guard.timeouts[failure.reason] += 1;
    this.failure = failure;
    this.#rejectRead?.(failure);
    this.source.stop(failure);
    this.#settle();
  }

  /** Stops guarding a body nobody will read any more (the request was answered without it). */
  release(): void {
    if (!this.started) this.#cancel();
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => this.nextChunk(),
      return: () => {
        this.#cancel();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  /** The body as a web stream (for `fetch`): reads only when pulled, so backpressure reaches the client. */
  stream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const { value, done } = await this.nextChunk();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (error) {
          controller.error(error);
        }
      },
      cancel: () => this.#cancel(),
    });
  }

  #cancel(): void {
    if (this.settled) return;
    this.#cancelled = true;
    this.source.stop(undefined);
    this.#settle();
  }
}

/**
 * Guards the request bodies a gateway is receiving against clients that send too slowly: a body
 * whose reader waits longer than `idleMs` for the next piece, that arrives slower than `minRate`
 * once the grace period is over, or that is not complete `totalMs` after its request arrived is
 * cut off with RequestBodyTimeout. One sweep timer checks every body in flight (no timer per
 * request or per chunk); it runs only while bodies are in flight.
 */
export class BodyGuard {
  readonly #active = new Set<WatchedBody>();
  readonly #sweepMs: number;
  /** Bodies cut off so far, by reason. */
  readonly timeouts: Record<BodyTimeoutReason, number> = { idle: 0, rate: 0, total: 0 };
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly limits: BodyLimits) {
    const shortest = Math.min(limits.idleMs, limits.totalMs, limits.minRate > 0 ? limits.minRateGraceMs : Infinity);
    this.#sweepMs = Math.max(20, Math.min(1_000, Math.floor(shortest / 4)));
  }

  /** Bodies being guarded now (for tests and metrics). */
  get size(): number {
    return this.#active.size;
  }

  /**
   * Guards a request's body: read from the node:http IncomingMessage where the listener is node:http
   * (`incoming`), which is faster than the web stream made from it, else from the request's stream.
   */
  watch(request: Request, incoming: (Readable & { headers: Record<string, unknown> }) | undefined, arrivedAt: number): WatchedBody | undefined {
    if (incoming) {
      // Not request.body: making the web stream would start reading the IncomingMessage.
      const length = incoming.headers["content-length"];
      const chunked = incoming.headers["transfer-encoding"] !== undefined;
      return chunked || (length !== undefined && length !== "0") ? this.watchReadable(incoming, arrivedAt) : undefined;
    }
    return request.body ? this.watchStream(request.body, arrivedAt) : undefined;
  }

  /** Guards a body that arrives as a web stream (Bun.serve). */
  watchStream(stream: ReadableStream<Uint8Array>, arrivedAt: number): WatchedBody {
    const reader = stream.getReader();
    return this.#watch(
      {
        next: () => reader.read() as Promise<IteratorResult<Uint8Array>>,
        stop: (reason) => void reader.cancel(reason).catch(() => {}),
      },
      arrivedAt,
    );
  }

  /**
   * Guards a body that arrives as a Node readable (node:http listeners). Stopping it leaves the
   * socket alone, so the client can still be told why (the answer closes the connection).
   */
  watchReadable(readable: Readable, arrivedAt: number): WatchedBody {
    let chunks: AsyncIterator<Uint8Array> | undefined;
    return this.#watch(
      {
        next: () => (chunks ??= readable.iterator({ destroyOnReturn: false }) as AsyncIterator<Uint8Array>).next(),
        stop: () => void readable.pause(),
      },
      arrivedAt,
    );
  }

  /** Stops guarding a body (finished, failed, or given up). */
  forget(body: WatchedBody): void {
    this.#active.delete(body);
    if (this.#active.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Stops the sweep timer (the gateway is closing). */
  close(): void {
    for (const body of this.#active) this.forget(body);
  }

  #watch(source: ChunkSource, arrivedAt: number): WatchedBody {
    const body = new WatchedBody(this, source, arrivedAt);
    this.#active.add(body);
    if (this.#timer === undefined) {
      // Runs only while bodies are in flight (stopped with the last one), so it may keep the process alive.
      this.#timer = setInterval(() => this.sweep(performance.now()), this.#sweepMs);
    }
    return body;
  }

  /** Cuts off every body past a limit at time `now` (`performance.now()`); the timer calls it. */
  sweep(now: number): void {
    const { idleMs, minRate, minRateGraceMs, totalMs } = this.limits;
    for (const body of this.#active) {
      if (now - body.arrivedAt > totalMs) {
        body.fail(new RequestBodyTimeout("total", `The request was not received completely within ${seconds(totalMs)}.`));
        continue;
      }
      const waiting = body.waitingSince < 0 ? 0 : now - body.waitingSince;
      if (waiting > idleMs) {
        body.fail(new RequestBodyTimeout("idle", `The request body stalled for more than ${seconds(idleMs)}.`));
        continue;
      }
      const waited = body.waited + waiting;
      if (minRate > 0 && waited > minRateGraceMs && body.bytes < (minRate * waited) / 1000) {
        body.fail(new RequestBodyTimeout("rate", `The request body arrived slower than ${minRate} bytes per second.`));
      }
    }
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
