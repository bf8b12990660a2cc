/**
 * The one place Portico touches the Extism JS SDK (pinned at an exact version in package.json).
 * Policy modules are compiled once per sha256 digest and instantiated as in-process Extism plugins.
 */
import { createHash } from "node:crypto";
import type { Plugin } from "@extism/extism";
import { HOST_FUNCTIONS, HOST_NAMESPACE, type PolicyExchange } from "./abi.ts";
import { beginCall, endCall, ENV_NAMESPACE, ENV_OVERRIDES } from "./call-state.ts";
import { GuestStrings } from "./guest-strings.ts";
import { DEFAULT_BUDGET as SNAPSHOT_DEFAULT_BUDGET } from "../../config/snapshot/build.ts";
import { FUEL_EXPORT, meterModule } from "./meter.ts";
import { loadNodeWasiQuietly } from "./quiet-wasi.ts";
import { describeError } from "../../config/schema/problems.ts";

// The SDK is imported only once node:wasi is loaded without its start-up warning (see
// quiet-wasi.ts): a static import would load node:wasi while the module graph links, before any
// code of this file runs.
loadNodeWasiQuietly();
const { default: createPlugin } = await import("@extism/extism");

/** The limits a policy runs within: fuel per call (function entries plus loop iterations) and linear memory. */
export interface PolicyBudget {
  readonly fuel: number;
  readonly memoryBytes: number;
}

/** The budget of a module compiled without one (built-ins; custom modules get theirs from the snapshot): about a millisecond or two of tight loop, 16 MiB. */
const DEFAULT_BUDGET: PolicyBudget = SNAPSHOT_DEFAULT_BUDGET;

const PAGE = 64 * 1024;

/** Extism memory (blocks exchanged with the host) one call may use: 4 MiB. */
const HOST_MEMORY_PAGES = 64;

/**
 * The policy ABI this host implements, as `(major << 16) | minor`: 1.4 (1.3 added
 * `portico_reply_problem`, 1.4 `portico_context` and `portico_counter_add_bytes`). Minor versions
 * only add host functions, so a module for 1.0 to 1.4 runs here; one for a later minor or another
 * major is refused.
 */
export const ABI_VERSION = 0x10004;

/** Why a policy module cannot be used: bad digest, not a module, no ABI export, or another major version. */
export class PolicyModuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PolicyModuleError";
  }
}

/** A compiled policy module, shared by every instance made from it. */
export interface PolicyModule {
  /** Hex sha256 of the module's bytes. */
  readonly digest: string;
  /** What identifies this compiled form: the digest and the budget it was metered for. */
  readonly key: string;
  readonly module: WebAssembly.Module;
  /** The hooks (`on_request`, `on_response`, `on_error`) the module exports. */
  readonly hooks: ReadonlySet<string>;
  /** The fuel each call starts with. */
  readonly fuel: number;
  /** The cap on the module's linear memory, in 64 KiB pages. */
  readonly maxPages: number;
}

/**
 * How a policy call failed, as the metrics count it: the guest trapped (`trap`), ran out of fuel
 * (`out-of-fuel`), trapped with its memory near the cap (`memory-cap`: within
 * MEMORY_CAP_SLACK_PAGES of it; an allocation the cap refused ends in a trap, and the host cannot
 * see the refused `memory.grow` itself), returned an error itself (`guest-error`), a host function or a built-in run on
 * the host failed (`host-error`, also the kind of anything unclassified), or the policy was not run
 * because it is backing off after failures in a row (`backing-off`).
 */
export type PolicyFailureKind = "trap" | "out-of-fuel" | "memory-cap" | "guest-error" | "host-error" | "backing-off";

/**
 * How close to its memory cap (64 KiB pages) a trapped policy counts as stopped by the cap: an
 * allocator asks for more than a page at once (AssemblyScript's for a 1 MiB block: 17 pages), so
 * the memory of a guest refused by the cap ends some pages below it. 2 MiB.
 */
export const MEMORY_CAP_SLACK_PAGES = 32;

const FAILURE = Symbol("portico.policy.failure");

/** What a failed policy call is marked with: its kind and the fuel it used. */
interface FailureMark {
  readonly kind: PolicyFailureKind;
  readonly fuel: number;
}

/** Marks an error with the kind of policy failure it stands for and the fuel the call used (see failureOf). */
export function markFailure<T>(error: T, kind: PolicyFailureKind, fuel = 0): T {
  if (typeof error === "object" && error !== null) (error as { [FAILURE]?: FailureMark })[FAILURE] = { kind, fuel };
  return error;
}

/** The kind of policy failure an error from a chain step stands for, and the fuel used: as marked, else `host-error` and none. */
export function failureOf(error: unknown): FailureMark {
  return (typeof error === "object" && error !== null && (error as { [FAILURE]?: FailureMark })[FAILURE]) || HOST_ERROR;
}

const HOST_ERROR: FailureMark = { kind: "host-error", fuel: 0 };

const HOOKS = ["on_request", "on_response", "on_error"];

function describeVersion(version: number): string {
  return `${version >>> 16}.${version & 0xffff}`;
}

/**
 * Compiled modules that the live configuration does not use, kept at most (least recently used
 * out): those of configurations that were refused, in case a corrected one uses them. They all go
 * when the next configuration goes live.
 */
export const MAX_UNUSED_MODULES = 16;

/**
 * Compiles policy modules, once per digest: asking again for the same bytes returns the same
 * compiled module. A digest given by the configuration must match the bytes. Bounded: once a
 * configuration goes live (`retain`), the modules it does not use are dropped (instances already
 * made keep theirs), and between swaps at most MAX_UNUSED_MODULES unused ones are kept.
 */
export class PolicyModuleCache {
  /** Custom modules by key (digest and budget), in least recently used order. */
  readonly #byKey = new Map<string, Promise<PolicyModule>>();
  /** Built-in modules by name: a fixed set, never dropped. */
  readonly #builtins = new Map<string, Promise<PolicyModule>>();
  /** Keys the live configuration uses. */
  #live: ReadonlySet<string> = new Set();
  /** How many of `#byKey` are in `#live`. */
  #liveHeld = 0;
  #evictions = 0;

  /**
   * A built-in policy's module, read and hashed once per process however many uses a configuration
   * has (10,000 APIs with 3 uses each would otherwise read and hash the file 30,000 times).
   */
  builtin(name: string, bytes: () => Uint8Array): Promise<PolicyModule> {
    let compiled = this.#builtins.get(name);
    if (!compiled) {
      compiled = Promise.resolve().then(() => {
        const source = bytes();
        const digest = createHash("sha256").update(source).digest("hex");
        return compileModule(source, digest, DEFAULT_BUDGET, moduleKey(digest, DEFAULT_BUDGET));
      });
      compiled.catch(() => this.#builtins.delete(name));
      this.#builtins.set(name, compiled);
    }
    return compiled;
  }

  compile(bytes: Uint8Array, expectedSha256?: string, budget: PolicyBudget = DEFAULT_BUDGET): Promise<PolicyModule> {
    const digest = createHash("sha256").update(bytes).digest("hex");
    if (expectedSha256 !== undefined && expectedSha256 !== digest) {
      return Promise.reject(new PolicyModuleError(`sha256 mismatch: the configuration says ${expectedSha256}, the module is ${digest}`));
    }
    const key = moduleKey(digest, budget);
    let compiled = this.#byKey.get(key);
    if (compiled) {
      this.#byKey.delete(key);
      this.#byKey.set(key, compiled);
      return compiled;
    }
    compiled = compileModule(bytes, digest, budget, key);
    // A failed compile is not kept: the next request for these bytes tries again.
    const made = compiled;
    made.catch(() => {
      if (this.#byKey.get(key) === made) this.#forget(key);
    });
    this.#byKey.set(key, compiled);
    if (this.#live.has(key)) this.#liveHeld += 1;
    this.#trim();
    return compiled;
  }

  /**
   * Records the module keys the configuration that just went live uses, and drops every other
   * compiled module (a pipeline still draining keeps the modules its instances were made from).
   */
  retain(live: ReadonlySet<string>): void {
    this.#live = live;
    this.#liveHeld = 0;
    for (const key of [...this.#byKey.keys()]) {
      if (live.has(key)) this.#liveHeld += 1;
      else {
        this.#byKey.delete(key);
        this.#evictions += 1;
      }
    }
  }

  /** Drops the least recently used modules the live configuration does not use, beyond MAX_UNUSED_MODULES. */
  #trim(): void {
    let unused = this.#byKey.size - this.#liveHeld;
    if (unused <= MAX_UNUSED_MODULES) return;
    // Runs only when a configuration is compiled, never per request; skipping live keys is bounded by the configuration.
    for (const key of this.#byKey.keys()) {
      if (unused <= MAX_UNUSED_MODULES) return;
      if (this.#live.has(key)) continue;
      this.#byKey.delete(key);
      this.#evictions += 1;
      unused -= 1;
    }
  }

  #forget(key: string): void {
    this.#byKey.delete(key);
    if (this.#live.has(key)) this.#liveHeld -= 1;
  }

  /** How many distinct custom modules are compiled (or compiling); built-ins are not counted. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Compiled modules held, built-ins included (for `/metrics`). */
  get compiled(): number {
    return this.#byKey.size + this.#builtins.size;
  }

  /** Compiled modules dropped so far (unused by the live configuration, or beyond MAX_UNUSED_MODULES). */
  get evictions(): number {
    return this.#evictions;
  }
}

/** What identifies a compiled form: the digest and the budget it was metered for (the metered module depends on the memory cap; fuel is set per call). */
function moduleKey(digest: string, budget: PolicyBudget): string {
  return `${digest}:${budget.memoryBytes}:${budget.fuel}`;
}

/**
 * The metered form of a module for a budget: what the cache compiles (and what the metering fuzzer
 * checks against the original). The memory cap is the budget's bytes in whole pages, at least one.
 * Throws MeterError for a module that cannot be metered.
 */
export function meterForBudget(bytes: Uint8Array, budget: PolicyBudget): Uint8Array {
  return meterModule(bytes, Math.max(1, Math.floor(budget.memoryBytes / PAGE)), budget.fuel);
}

async function compileModule(bytes: Uint8Array, digest: string, budget: PolicyBudget, key: string): Promise<PolicyModule> {
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(meterForBudget(bytes, budget) as unknown as ArrayBuffer);
  } catch (error) {
    throw new PolicyModuleError(`not a usable WebAssembly module: ${describeError(error)}`);
  }
  const exports = new Set(WebAssembly.Module.exports(module).filter((e) => e.kind === "function").map((e) => e.name));
  if (!exports.has("portico_abi_version")) {
    throw new PolicyModuleError("not a Portico policy: the module does not export portico_abi_version (build it with the Portico SDK)");
  }
  return {
    digest,
    key,
    module,
    hooks: new Set(HOOKS.filter((h) => exports.has(h))),
    fuel: budget.fuel,
    maxPages: Math.max(1, Math.floor(budget.memoryBytes / PAGE)),
  };
}

/** Options for one policy instance. */
export interface PolicyPluginOptions {
  /** The policy's parameters (`with:` in the configuration), read by the guest with `config_get`. */
  readonly config?: Readonly<Record<string, string>>;
}

/**
 * One in-process instance of a policy module. Calls are sequential on one instance; a host that
 * serves concurrent requests gives each in-flight call its own instance.
 */
export class PolicyPlugin {
  readonly #plugin: Plugin;
  /** The instance's exports: hooks are called directly (see callNow). */
  readonly #exports: WebAssembly.Exports;
  readonly #fuel: WebAssembly.Global;
  readonly #budget: bigint;
  /** The module's linear memory (Extism requires it exported), for the ABI's block copies. */
  readonly #memory: WebAssembly.Memory | undefined;
  /** The strings this instance passed to host functions, decoded once per place in its memory. */
  readonly #strings = new GuestStrings();

  private constructor(
    readonly module: PolicyModule,
    plugin: Plugin,
    exports: WebAssembly.Exports,
    fuel: WebAssembly.Global,
    memory: WebAssembly.Memory | undefined,
  ) {
    this.#plugin = plugin;
    this.#exports = exports;
    this.#fuel = fuel;
    this.#memory = memory;
    this.#budget = BigInt(module.fuel);
  }

  /** Instantiates a module and checks its ABI major version. */
  static async create(module: PolicyModule, options: PolicyPluginOptions = {}): Promise<PolicyPlugin> {
    const plugin = await createPlugin(
      { wasm: [{ module: module.module }], config: { ...options.config } },
      {
        useWasi: false,
        runInWorker: false,
        // Extism's blocks (strings exchanged with the host) are reset before every call; together
        // they may hold HOST_MEMORY_PAGES, and `alloc` refuses an oversized block before making it.
        memory: { maxPages: HOST_MEMORY_PAGES },
        functions: { [HOST_NAMESPACE]: HOST_FUNCTIONS, [ENV_NAMESPACE]: ENV_OVERRIDES },
      },
    );
    // Blocks made while the module started are let go, as those of each call are after it (callNow).
    await plugin.reset();
    const instance = (await plugin.getInstance()) as WebAssembly.Instance;
    const fuel = instance.exports[FUEL_EXPORT] as WebAssembly.Global;
    fuel.value = BigInt(module.fuel);
    const version = (instance.exports.portico_abi_version as () => number)() >>> 0;
    if (version >>> 16 !== ABI_VERSION >>> 16 || (version & 0xffff) > (ABI_VERSION & 0xffff)) {
      await plugin.close();
      throw new PolicyModuleError(
        `module ${module.digest.slice(0, 12)} is built for policy ABI ${describeVersion(version)}; this gateway implements ${describeVersion(ABI_VERSION)}`,
      );
    }
    return new PolicyPlugin(module, plugin, instance.exports, fuel, instance.exports.memory as WebAssembly.Memory | undefined);
  }

  /**
   * Runs a hook the module exports on an exchange (what the ABI's host functions read and change)
   * and resolves with the fuel it used; a trap, a guest error or a host-function error rejects,
   * marked with its kind (failureKind).
   */
  call(hook: string, exchange?: PolicyExchange): Promise<number> {
    try {
      return Promise.resolve(this.callNow(hook, exchange));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * `call`, answered synchronously: the fuel used, or a marked error thrown. The hook's export is
   * called directly rather than through Extism's `call`, whose two async steps cost a policy call
   * more than the guest itself (bench/RESULTS.md, 2026-12-04 12:30): Extism's memory blocks are
   * let go after a call that made any (its `call` reset them before each call), and the input,
   * output and error functions it would keep per call are the host's (ENV_OVERRIDES).
   */
  callNow(hook: string, exchange?: PolicyExchange): number {
    const run = this.#exports[hook];
    if (typeof run !== "function") throw markFailure(new Error(`the policy module has no function "${hook}"`), "host-error");
    this.#fuel.value = this.#budget;
    beginCall(this.#memory, this.#strings, exchange);
    let failed = false;
    let failure: unknown;
    try {
      (run as () => unknown)();
    } catch (error) {
      failed = true;
      failure = this.#failure(error);
    }
    const { error, tookBlocks } = endCall();
    // Extism's blocks of this call go now, when it made any (most calls make none; the reset costs
    // about 0.25 µs). Extism's reset awaits nothing: it is done when the call returns.
    if (tookBlocks) void this.#plugin.reset();
    if (failed) throw failure;
    // An error the guest set (Extism's `error_set`): the guest's own failure.
    if (error !== undefined) throw markFailure(new Error(`Plugin-originated error: ${error}`), "guest-error", this.#used());
    return this.#used();
  }

  /** The fuel the last call used (its budget less what is left; all of it when it ran out). */
  #used(): number {
    return Math.min(this.module.fuel, this.module.fuel - Number(this.#fuel.value as bigint));
  }

  /** What a call that threw failed of, as failureOf reads it. */
  #failure(error: unknown): unknown {
    const used = this.#used();
    if ((this.#fuel.value as bigint) < 0n) {
      // A metered module traps when its fuel goes below zero: say so, rather than just "unreachable".
      if (error instanceof Error) error.message += ` (out of fuel: the budget is ${this.module.fuel} units a call)`;
      return markFailure(error, "out-of-fuel", used);
    }
    if (error instanceof WebAssembly.RuntimeError) {
      return markFailure(error, this.memoryPages + MEMORY_CAP_SLACK_PAGES >= this.module.maxPages ? "memory-cap" : "trap", used);
    }
    // Anything else came from a host function.
    return markFailure(error, "host-error", used);
  }

  /** The instance's linear memory, in 64 KiB pages. */
  get memoryPages(): number {
    return this.#memory ? this.#memory.buffer.byteLength / PAGE : 0;
  }

  close(): Promise<void> {
    return this.#plugin.close();
  }
}
