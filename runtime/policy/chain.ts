import { HttpProblem } from "../http/problem.ts";
import type { Logger } from "../observability/log.ts";
import type { PolicyExchange } from "./abi.ts";
import { type BodyBuffers, type BodyLimits, loadBody } from "./body.ts";
import { failureOf, markFailure, type PolicyFailureKind, type PolicyModule, PolicyPlugin, type PolicyPluginOptions } from "./extism.ts";
import { describeError } from "../../config/schema/problems.ts";

/** What to do when a policy fails: answer 500 (`closed`) or skip it and go on (`open`). */
export type FailureMode = "closed" | "open";

/** A policy's accounting (runtime/observability/metrics.ts `PolicyStats`): plain additions, no allocation. */
export interface PolicyUsage {
  /** One call: how it failed (undefined: it did not), how long it took (ms), the fuel it used. */
  record(failure: PolicyFailureKind | undefined, ms: number, fuel: number): void;
}

/** Where policy calls and failures are reported (the gateway's log and its metrics), and what bounds the bodies policies read. */
export interface PolicyReporting {
  readonly logger: Logger;
  /** The accounting of each policy, by the name it was used under. */
  readonly metrics: { policy(name: string): PolicyUsage };
  /** The process-wide cap on bodies buffered for policies (policy.body.max-buffered); none when undefined. */
  readonly bodies?: BodyBuffers;
}

/**
 * One step of a chain, as PolicyChain runs it: a WebAssembly policy (PolicyStep) or a built-in the
 * gateway runs itself (runtime/policy/host.ts, e.g. validate-jwt). `call` answers by setting
 * `exchange.reply`, and throws only when the policy itself failed (its failure mode then applies).
 */
export interface ChainStep {
  /** The name it was used under: a built-in's name or the key of `policies:`. */
  readonly name: string;
  readonly failure: FailureMode;
  /** Body access it opted in to; undefined: none. */
  readonly body: BodyLimits | undefined;
  /** Whether it implements a hook; a step without it is passed over. */
  has(hook: string): boolean;
  /**
   * Runs a hook on one exchange; answers with the fuel it used when it counts fuel (WebAssembly
   * policies). A step that can answer at once does so without a promise (a WebAssembly policy whose
   * instance is in service), so the chain awaits only what is really asynchronous.
   */
  call(hook: string, exchange: PolicyExchange): number | void | Promise<number | void>;
  /** The linear memory of its instance (64 KiB pages), when it has one. */
  readonly memoryPages?: number;
  /** Releases what it holds, once no pipeline that uses it can run again. */
  close(): Promise<void>;
}

/** First pause after a policy fails twice in a row; it doubles with every further failure. */
const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 60_000;

/**
 * One use of a policy in a chain: its instance, its failure mode, and the way back from a trap.
 * An instance is not reused after a failure (a trapped guest may be corrupt); a fresh one is made
 * from the compiled module and serves the following requests.
 */
export class PolicyStep implements ChainStep {
  #plugin: Promise<PolicyPlugin>;
  /** The instance that serves calls now, once made (for its memory). */
  #current: PolicyPlugin | undefined;
  #failuresInARow = 0;
  /** While a failing policy backs off, calls fail at once without running it (`Date.now()` ms). */
  #pausedUntil = 0;
  #closed = false;

  private constructor(
    readonly name: string,
    readonly failure: FailureMode,
    readonly module: PolicyModule,
    readonly options: PolicyPluginOptions,
    plugin: PolicyPlugin,
    /** Body access this policy opted in to (custom modules' `body:`); undefined: none. */
    readonly body: BodyLimits | undefined,
  ) {
    this.#plugin = Promise.resolve(plugin);
    this.#current = plugin;
  }

  static async create(name: string, failure: FailureMode, module: PolicyModule, options: PolicyPluginOptions, body?: BodyLimits): Promise<PolicyStep> {
    return new PolicyStep(name, failure, module, options, await PolicyPlugin.create(module, options), body);
  }

  /** Whether the step was closed (its configuration retired and drained). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Releases the instance; a step is closed only once no pipeline that uses it can run again. */
  async close(): Promise<void> {
    this.#closed = true;
    const plugin = await this.#plugin.catch(() => undefined);
    await plugin?.close();
  }

  /** Whether the module implements a hook; a step without it is passed over. */
  has(hook: string): boolean {
    return this.module.hooks.has(hook);
  }

  /** The linear memory of the instance serving calls (64 KiB pages); 0 while a replacement is being made. */
  get memoryPages(): number {
    return this.#current?.memoryPages ?? 0;
  }

  /**
   * Runs a hook: synchronously on the instance in service, else once the replacement is made. After
   * a failure the instance is replaced; after two or more failures in a row the policy backs off
   * (1 s, doubling, at most 60 s), failing at once meanwhile; a success resets it.
   */
  call(hook: string, exchange: PolicyExchange): number | Promise<number> {
    if (this.#closed) throw new Error("policy instance used after its configuration was retired");
    if (this.#pausedUntil > Date.now()) {
      throw markFailure(
        new Error(`backing off after ${this.#failuresInARow} failures in a row (until ${new Date(this.#pausedUntil).toISOString()})`),
        "backing-off",
      );
    }
    const plugin = this.#current;
    if (plugin === undefined) return this.#callWhenMade(hook, exchange);
    try {
      const fuel = plugin.callNow(hook, exchange);
      this.#failuresInARow = 0;
      return fuel;
    } catch (error) {
      throw this.#failed(error);
    }
  }

  /** `call` while the replacement instance is being made. */
  async #callWhenMade(hook: string, exchange: PolicyExchange): Promise<number> {
    try {
      const fuel = (await this.#plugin).callNow(hook, exchange);
      this.#failuresInARow = 0;
      return fuel;
    } catch (error) {
      throw this.#failed(error);
    }
  }

  /** Counts a failed call, starts the back-off after two in a row, and replaces the instance; answers the error. */
  #failed(error: unknown): unknown {
    this.#failuresInARow += 1;
    if (this.#failuresInARow >= 2) {
      this.#pausedUntil = Date.now() + Math.min(FIRST_BACKOFF_MS * 2 ** (this.#failuresInARow - 2), MAX_BACKOFF_MS);
    }
    // Replace the instance (or retry making one, if making the last replacement failed).
    this.#current = undefined;
    const replacement = PolicyPlugin.create(this.module, this.options);
    this.#plugin = replacement;
    replacement.then((plugin) => {
      if (this.#plugin === replacement) this.#current = plugin;
    }, () => {});
    return error;
  }
}

/**
 * The policies of one section for one operation, in order. Empty chains cost nothing: the proxy
 * checks `length` before building an exchange.
 */
export class PolicyChain {
  /** Whether a step of this chain reads a body (the request's in on_request, the response's in on_response). */
  readonly readsBody: boolean;
  /** The steps that implement the hook, in order (a step's hooks never change). */
  readonly #running: readonly ChainStep[];

  constructor(
    readonly steps: readonly ChainStep[],
    readonly hook: "on_request" | "on_response" | "on_error",
  ) {
    this.readsBody = steps.some((s) => this.#bodyLimit(s) !== undefined);
    this.#running = steps.filter((s) => s.has(hook));
  }

  get length(): number {
    return this.steps.length;
  }

  /**
   * Runs every step that implements the hook, until one replies (`exchange.reply`); a failed
   * `closed` step stops the chain with 500 problem+json. Each call is accounted to its policy
   * (duration, fuel, failure kind) with plain additions. Synchronous while every step answers at
   * once (WebAssembly policies in service); from the first step that needs to wait (a body to
   * buffer, a shared counter, signing keys) the rest runs asynchronously and a promise is returned,
   * so the caller awaits only when there is something to wait for.
   */
  run(exchange: PolicyExchange, reporting: PolicyReporting): void | Promise<void> {
    return this.#runFrom(0, exchange, reporting, -1);
  }

  /**
   * `run` from step `index` on, synchronously until a step has to wait; then the wait's promise,
   * which goes on from the next step when it settles. `loaded`: the step whose body is already
   * buffered (-1: none).
   */
  #runFrom(index: number, exchange: PolicyExchange, reporting: PolicyReporting, loaded: number): void | Promise<void> {
    const running = this.#running;
    let started = performance.now();
    for (let i = index; i < running.length; i++) {
      const step = running[i]!;
      exchange.policy = step.name;
      exchange.bodyAccess = step.body;
      // Buffered before the call (host functions are synchronous); too large a body is the client's or backend's problem, not the policy's.
      if (i !== loaded && step.body !== undefined && this.#bodyLimit(step) !== undefined) return this.#loadThenRun(i, exchange, reporting);
      let fuel: number | void;
      try {
        const called = step.call(this.hook, exchange);
        if (typeof called === "object") return this.#settleThenRun(i, called, started, exchange, reporting);
        fuel = called;
      } catch (error) {
        this.#failed(step, error, started, exchange, reporting);
        started = performance.now();
        continue;
      }
      // One clock read per step: where this one ended, the next begins.
      const ended = performance.now();
      reporting.metrics.policy(step.name).record(undefined, ended - started, fuel ?? 0);
      started = ended;
      if (exchange.reply) return;
    }
  }

  /** Buffers the body step `index` opted in to, then runs the chain from that step. */
  async #loadThenRun(index: number, exchange: PolicyExchange, reporting: PolicyReporting): Promise<void> {
    await loadBody(exchange, this.hook === "on_request" ? "request" : "response", this.#bodyLimit(this.#running[index]!)!, reporting.bodies);
    return this.#runFrom(index, exchange, reporting, index);
  }

  /** Waits for step `index`'s call (started at `started`), accounts it, then runs the chain from the next step. */
  async #settleThenRun(index: number, pending: Promise<number | void>, started: number, exchange: PolicyExchange, reporting: PolicyReporting): Promise<void> {
    const step = this.#running[index]!;
    try {
      const fuel = await pending;
      reporting.metrics.policy(step.name).record(undefined, performance.now() - started, fuel ?? 0);
      if (exchange.reply) return;
    } catch (error) {
      this.#failed(step, error, started, exchange, reporting);
    }
    return this.#runFrom(index + 1, exchange, reporting, -1);
  }

  /** The body limit a step opted in to for this chain's hook (request body in on_request, response body in on_response). */
  #bodyLimit(step: ChainStep): number | undefined {
    return this.hook === "on_request" ? step.body?.request : this.hook === "on_response" ? step.body?.response : undefined;
  }

  /** Accounts a failed step; throws 500 problem+json for a `closed` one, logs and returns for an `open` one. */
  #failed(step: ChainStep, error: unknown, started: number, exchange: PolicyExchange, { logger, metrics }: PolicyReporting): void {
    const failure = failureOf(error);
    metrics.policy(step.name).record(failure.kind, performance.now() - started, failure.fuel);
    exchange.reply = undefined;
    exchange.record?.policyFailed(step.name);
    const reason = describeError(error);
    if (step.failure === "open") {
      logger.warn("policy failed and was skipped (failure: open)", { policy: step.name, hook: this.hook, reason });
      return;
    }
    throw new HttpProblem("policy-failed", { internal: `policy "${step.name}" failed in ${this.hook}: ${reason}`, cause: error });
  }
}

/**
 * The policy steps of one configuration, shared by every use with the same policy, failure mode,
 * compiled module and parameters: one instance serves them all (calls are synchronous inside the
 * guest, and each call carries its own exchange). Steps of the previous configuration are reused
 * when unchanged, so a swap does not re-instantiate what it keeps.
 */
export class PolicySteps {
  readonly #steps = new Map<string, Promise<ChainStep>>();
  #previous: PolicySteps | undefined;
  /** Steps this configuration made itself (not taken over from the previous one). */
  readonly #created: Promise<ChainStep>[] = [];

  constructor(previous?: PolicySteps) {
    this.#previous = previous;
  }

  /** The shared step for a use, made only when neither this nor the previous configuration has it. */
  get(name: string, failure: FailureMode, module: PolicyModule, options: PolicyPluginOptions, body?: BodyLimits): Promise<ChainStep> {
    const key = JSON.stringify([name, failure, module.key, Object.entries(options.config ?? {}).sort(), body?.request, body?.response]);
    return this.#shared(key, () => PolicyStep.create(name, failure, module, options, body));
  }

  /**
   * The shared step of a built-in the gateway runs itself (same name, failure mode and parameters),
   * made by `make` only when neither this nor the previous configuration has it: its caches (keys,
   * verified tokens) survive a swap that keeps it.
   */
  host(name: string, failure: FailureMode, config: Readonly<Record<string, string>>, make: () => Promise<ChainStep>): Promise<ChainStep> {
    return this.#shared(JSON.stringify(["host", name, failure, Object.entries(config).sort()]), make);
  }

  #shared(key: string, make: () => Promise<ChainStep>): Promise<ChainStep> {
    let step = this.#steps.get(key) ?? (this.#previous ? this.#previous.#steps.get(key) : undefined);
    if (!step) {
      step = make();
      this.#created.push(step);
    }
    this.#steps.set(key, step);
    return step;
  }

  /** Closes the instances of this configuration that `next` does not use (after this one has drained). */
  closeUnused(next: PolicySteps): void {
    const kept = new Set(next.#steps.values());
    for (const step of this.#steps.values()) {
      if (!kept.has(step)) step.then((s) => s.close(), () => {});
    }
  }

  /** Closes the instances this configuration made, when it failed to compile and never went live. */
  discard(): void {
    for (const step of this.#created) step.then((s) => s.close(), () => {});
  }

  /**
   * The linear memory (64 KiB pages) of this configuration's instances, summed by policy name;
   * steps still being made are left out.
   */
  async memory(): Promise<Map<string, number>> {
    const pages = new Map<string, number>();
    const steps = await Promise.all([...this.#steps.values()].map((step) => step.catch(() => undefined)));
    for (const step of steps) {
      if (step?.memoryPages !== undefined) pages.set(step.name, (pages.get(step.name) ?? 0) + step.memoryPages);
    }
    return pages;
  }

  /** How many distinct steps (instances) this configuration uses. */
  get size(): number {
    return this.#steps.size;
  }

  /** Drops the link to the previous configuration's steps, so the ones no longer used can be collected. */
  release(): void {
    this.#previous = undefined;
  }
}

/** An empty chain, shared. */
export const NO_POLICIES = { request: new PolicyChain([], "on_request"), response: new PolicyChain([], "on_response"), error: new PolicyChain([], "on_error") };
