import { HttpProblem } from "../http/problem.ts";

/** How many requests one backend may have in flight, and how many may wait for a place. */
export interface GateLimits {
  /** Requests in flight to the backend at once. */
  readonly max: number;
  /** Requests waiting for a place; beyond it a request is refused at once. */
  readonly queue: number;
  /** Longest wait for a place before the request is refused. */
  readonly queueTimeoutMs: number;
}

interface Waiter {
  readonly admit: () => void;
  readonly timer: ReturnType<typeof setTimeout>;
  /** Set once the waiter was admitted or timed out: it is skipped when the queue reaches it. */
  settled: boolean;
}

/**
 * The concurrency limit of one backend (`backends.NAME.concurrency`): at most `max` requests are in
 * flight to it (sent, and until both its response headers and the client's body are through), the
 * next `queue` wait in arrival order for up to `queueTimeoutMs`, and the rest are refused with 503
 * and `Retry-After` without calling the backend. A backend that slow clients or a slow service
 * keep busy therefore holds at most its own places, never the runtime's connections to every
 * other backend. Gates live as long as the backend's name, across configuration swaps.
 */
export class BackendGate {
  #inFlight = 0;
  #queued = 0;
  /** Requests refused (queue full, or no place within the queue timeout) since the gate was made. */
  rejected = 0;
  readonly #waiters: Waiter[] = [];
  #head = 0;

  constructor(
    readonly backend: string,
    private limits: GateLimits,
  ) {}

  /** Requests in flight to the backend now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Requests waiting for a place now. */
  get queued(): number {
    return this.#queued;
  }

  /**
   * Takes a place: undefined when one was free (the common case costs no promise), else a promise
   * that resolves once a place is handed over, or rejects with a 503 HttpProblem.
   */
  enter(): Promise<void> | undefined {
    if (this.#inFlight < this.limits.max && this.#queued === 0) {
      this.#inFlight += 1;
      return undefined;
    }
    if (this.#queued >= this.limits.queue) return Promise.reject(this.#busy("its queue is full"));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        admit: resolve,
        settled: false,
        timer: setTimeout(() => {
          waiter.settled = true;
          this.#queued -= 1;
          reject(this.#busy(`no place became free within ${this.limits.queueTimeoutMs} ms`));
        }, this.limits.queueTimeoutMs),
      };
      this.#waiters.push(waiter);
      this.#queued += 1;
    });
  }

  /** New limits (a configuration swap); waiters that now fit are let in. */
  setLimits(limits: GateLimits): void {
    this.limits = limits;
    while (this.#queued > 0 && this.#inFlight < limits.max) {
      this.#inFlight += 1;
      this.leave();
    }
  }

  /** Gives a place back; the longest waiter, if any, takes it over. Call once per successful `enter`. */
  leave(): void {
    while (this.#head < this.#waiters.length) {
      const waiter = this.#waiters[this.#head]!;
      this.#waiters[this.#head++] = undefined as unknown as Waiter;
      if (waiter.settled) continue;
      waiter.settled = true;
      clearTimeout(waiter.timer);
      this.#queued -= 1;
      this.#compact();
      // The place passes from this request to the waiter: the in-flight count stays.
      waiter.admit();
      return;
    }
    this.#compact();
    this.#inFlight -= 1;
  }

  /** Drops the consumed front of the queue once it is most of the array. */
  #compact(): void {
    if (this.#head > 64 && this.#head * 2 > this.#waiters.length) {
      this.#waiters.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #busy(why: string): HttpProblem {
    this.rejected += 1;
    const seconds = Math.max(1, Math.ceil(this.limits.queueTimeoutMs / 1000));
    return new HttpProblem("backend-busy", {
      detail: "The backend has too many requests in flight; try again later.",
      headers: { "retry-after": String(seconds) },
      internal: `backend "${this.backend}" is at its concurrency limit of ${this.limits.max}: ${why}`,
    });
  }
}

/**
 * The gates of a gateway's backends by name, kept across configuration swaps so that requests in
 * flight on the old configuration still count against the new one's limits.
 */
export class BackendGates {
  readonly #gates = new Map<string, BackendGate>();

  /** The gate of a backend, with the limits of the configuration being compiled. */
  gate(backend: string, limits: GateLimits): BackendGate {
    let gate = this.#gates.get(backend);
    if (gate) gate.setLimits(limits);
    else this.#gates.set(backend, gate = new BackendGate(backend, limits));
    return gate;
  }

  /** Forgets the gates of backends a new configuration no longer has, once idle. */
  retain(backends: ReadonlySet<string>): void {
    for (const [name, gate] of this.#gates) if (!backends.has(name) && gate.inFlight === 0 && gate.queued === 0) this.#gates.delete(name);
  }

  /** Every gate, for metrics. */
  all(): IterableIterator<BackendGate> {
    return this.#gates.values();
  }
}
