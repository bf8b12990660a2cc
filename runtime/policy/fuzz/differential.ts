/**
 * The differential check of the metering rewriter: a generated module and its metered form (made
 * by `meterForBudget`, the function the policy cache compiles) run side by side with plain
 * WebAssembly instantiation, on the same inputs, and must agree.
 *
 * Properties, for every module and input (each run on an instance in its state right after
 * instantiation):
 * 1. The rewriter accepts the module (generated modules use only what it supports) and the
 *    metered module validates.
 * 2. With ample fuel it behaves as the original: the same return values, or a trap with the same
 *    error and message; the same memory bytes, exported globals and host-probe trace (the values
 *    the program reported, with its step count at each report).
 * 3. Fuel is counted exactly: the fuel spent equals the program's own step count (function
 *    entries plus loop iterations, kept by the program itself; see program.ts), and at every probe
 *    budget − fuel left equals the steps so far (so fuel only goes down, one unit per step).
 * 4. A budget of exactly N, the fuel the call spent with ample fuel, is enough: the run behaves as
 *    the original and leaves 0 fuel.
 * 5. A budget of k < N (N − 1 and a random smaller k) is not: the call traps as `unreachable`
 *    does, fuel left is −1 (how the host tells a fuel trap from the program's own), the program
 *    did exactly k steps before it was stopped, and it reported what the original reported in
 *    its first k steps, no more.
 * 6. Instantiation: both modules instantiate (or fail) alike, to the same state. A start
 *    function is metered too: the fuel the module starts with is spent by it exactly as by a
 *    call; metered with exactly the S units it needs, the module instantiates with 0 left; with
 *    S − 1 it fails with the fuel trap, having reported only what its first S − 1 steps report.
 */
import { Buffer } from "node:buffer";
import { FUEL_EXPORT } from "../meter.ts";
import { meterForBudget, type PolicyBudget } from "../extism.ts";
import { CALLS_ADDRESS, lowerProgram, type Program, STEPS_ADDRESS } from "./program.ts";
import { Random } from "./random.ts";
import { encodeModule } from "./wasm-module.ts";

/** The budget modules are metered with. */
export interface CheckOptions {
  /** Memory cap, in 64 KiB pages (the budget's memoryBytes is this many pages). */
  readonly capPages: number;
  /** Fuel that no generated call can spend. */
  readonly ample: number;
  /** The rewriter under test; `meterForBudget` (what the policy cache compiles) unless a test gives another. */
  readonly meter?: (bytes: Uint8Array, budget: PolicyBudget) => Uint8Array;
}

/** One call to make: an exported function, its arguments, and the calls the program may make. */
export interface Input {
  readonly entry: string;
  readonly args: readonly (number | bigint)[];
  readonly calls: number;
}

/** A check that did not hold. */
export interface Failure {
  /** Which property (a short stable name, used to keep a failure the same while shrinking). */
  readonly property: string;
  readonly message: string;
  readonly input?: Input;
}

/** What one check run saw, for statistics. */
export interface CheckStats {
  calls: number;
  traps: number;
  /** Calls that trapped in the original, by error message. */
  trapKinds: Record<string, number>;
  fuelTraps: number;
  steps: number;
}

type Outcome = { readonly kind: "return"; readonly values: string } | { readonly kind: "trap"; readonly error: string };

interface Probe {
  readonly steps: bigint;
  readonly value: number;
  /** Fuel left at the probe (metered runs, not during instantiation). */
  readonly fuel?: bigint;
}

interface Observation {
  readonly outcome: Outcome;
  readonly steps: bigint;
  readonly fuel?: bigint;
  readonly memory?: Uint8Array;
  readonly globals: string;
  readonly trace: readonly Probe[];
}

function show(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(show).join(", ")}]`;
  return typeof value === "bigint" ? `${value}n` : String(value);
}

/** An error as `Class: message`, without the call site Bun appends (" (evaluating '...')"). */
function describe(error: unknown): string {
  return error instanceof Error ? `${error.constructor.name}: ${error.message.replace(/ \(evaluating '.*'\)$/s, "")}` : `thrown ${show(error)}`;
}

/** The inputs for a program: a few calls of its exported functions, drawn from `seed`. */
export function drawInputs(program: Program, seed: number, count: number): Input[] {
  const r = new Random(seed ^ 0x5bd1e995);
  const entries = program.exports.filter((e) => e.kind === "func");
  return Array.from({ length: count }, () => {
    const entry = r.pick(entries);
    const f = program.functions[entry.index - program.importedFunctions]!;
    const args = f.params.map((t, i) => (i === 0 ? r.between(0, 5) : t === "i32" ? r.int32() : r.int64()));
    return { entry: entry.name, args, calls: r.between(0, 24) };
  });
}

/** Where an instance's host probe writes: swapped for each run. */
interface Sink {
  trace: Probe[];
}

/** An instance kept for reuse, with its state right after instantiation. */
interface Kept {
  readonly instance: WebAssembly.Instance;
  readonly sink: Sink;
  readonly memory?: Uint8Array;
  readonly globals: readonly (readonly [WebAssembly.Global, unknown])[];
}

/** Instantiates modules of one program with its host imports, and observes calls. */
class Runner {
  readonly #unreachable: string;
  readonly #kept = new Map<WebAssembly.Module, Kept>();
  /** Whether an instance can be set back to its state after instantiation (not once a data segment may have been dropped). */
  readonly #reusable: boolean;

  constructor(
    readonly program: Program,
    readonly options: CheckOptions,
  ) {
    this.#unreachable = unreachableMessage();
    this.#reusable = !JSON.stringify(program.functions, (_, v) => (typeof v === "bigint" ? String(v) : v)).includes('"k":"dataDrop"');
  }

  get fuelTrapError(): string {
    return this.#unreachable;
  }

  /** Instantiates `module`; the sink collects the probes (with the fuel left, once the instance is known). */
  instantiate(module: WebAssembly.Module, sink: Sink): WebAssembly.Instance {
    // Known once instantiation returns: probes made by the start function see no fuel.
    const made: { instance?: WebAssembly.Instance } = {};
    const probe = (value: number, steps: bigint) => {
      const fuel = made.instance?.exports[FUEL_EXPORT] as WebAssembly.Global | undefined;
      sink.trace.push({ steps, value, fuel: fuel ? (fuel.value as bigint) : undefined });
    };
    const host: Record<string, unknown> = {
      probe,
      mix: (a: number, b: number) => (Math.imul(a, 31) ^ b) | 0,
      seed_i32: new WebAssembly.Global({ value: "i32", mutable: false }, 0x1234567),
      seed_i64: new WebAssembly.Global({ value: "i64", mutable: false }, -0x123456789an),
    };
    const table = this.program.imports.find((i) => i.kind === "table");
    if (table) host.table = new WebAssembly.Table({ element: "anyfunc", initial: table.min });
    made.instance = new WebAssembly.Instance(module, { host: host as WebAssembly.ModuleImports });
    return made.instance;
  }

  steps(instance: WebAssembly.Instance): bigint {
    if (this.program.counters.k === "global") return (instance.exports.steps as WebAssembly.Global).value as bigint;
    return new DataView((instance.exports.memory as WebAssembly.Memory).buffer).getBigInt64(STEPS_ADDRESS, true);
  }

  /** Sets the step count to 0 and the calls left to `calls`, as the host does before each call. */
  reset(instance: WebAssembly.Instance, calls: number): void {
    if (this.program.counters.k === "global") {
      (instance.exports.steps as WebAssembly.Global).value = 0n;
      (instance.exports.calls as WebAssembly.Global).value = calls;
    } else {
      const view = new DataView((instance.exports.memory as WebAssembly.Memory).buffer);
      view.setBigInt64(STEPS_ADDRESS, 0n, true);
      view.setInt32(CALLS_ADDRESS, calls, true);
    }
  }

  state(instance: WebAssembly.Instance): { memory?: Uint8Array; globals: string } {
    const memory = instance.exports.memory as WebAssembly.Memory | undefined;
    const globals = Object.entries(instance.exports)
      .filter(([name, v]) => name !== FUEL_EXPORT && v instanceof WebAssembly.Global)
      .map(([name, v]) => `${name}=${show((v as WebAssembly.Global).value)}`)
      .join(" ");
    return { memory: memory ? new Uint8Array(memory.buffer).slice() : undefined, globals };
  }

  /**
   * An instance of `module` in the state right after instantiation: the one used last, set back
   * (its memory bytes and mutable globals are all a call can change, as programs never write
   * their tables, unless it drops a data segment), or a new one when its memory has grown or the
   * program has data.drop. Bun takes about a millisecond to instantiate a module, this a few
   * microseconds.
   */
  fresh(module: WebAssembly.Module, trace: Probe[]): WebAssembly.Instance {
    const kept = this.#reusable ? this.#kept.get(module) : undefined;
    const memory = kept?.instance.exports.memory as WebAssembly.Memory | undefined;
    if (kept && (!memory || memory.buffer.byteLength === kept.memory!.length)) {
      if (memory) new Uint8Array(memory.buffer).set(kept.memory!);
      for (const [global, value] of kept.globals) global.value = value;
      kept.sink.trace = trace;
      return kept.instance;
    }
    const sink: Sink = { trace: [] };
    const instance = this.instantiate(module, sink);
    this.keep(module, instance, sink);
    sink.trace = trace;
    return instance;
  }

  /** Keeps a just-made instance of `module` (and its state now) for `fresh` to reuse. */
  keep(module: WebAssembly.Module, instance: WebAssembly.Instance, sink: Sink): void {
    const globals: [WebAssembly.Global, unknown][] = [];
    for (const value of Object.values(instance.exports)) {
      if (!(value instanceof WebAssembly.Global)) continue;
      const now = value.value;
      try {
        // Only mutable globals can be set (here to the value they have).
        value.value = now;
        globals.push([value, now]);
      } catch {
        // immutable
      }
    }
    const mem = instance.exports.memory as WebAssembly.Memory | undefined;
    this.#kept.set(module, { instance, sink, globals, memory: mem ? new Uint8Array(mem.buffer).slice() : undefined });
  }

  /** One call on a fresh instance (see `fresh`), with `fuel` set first when the module is metered. */
  observe(module: WebAssembly.Module, input: Input, fuel?: number): Observation {
    const trace: Probe[] = [];
    const instance = this.fresh(module, trace);
    this.reset(instance, input.calls);
    const fuelGlobal = instance.exports[FUEL_EXPORT] as WebAssembly.Global | undefined;
    if (fuel !== undefined) fuelGlobal!.value = BigInt(fuel);
    let outcome: Outcome;
    try {
      const result = (instance.exports[input.entry] as (...args: unknown[]) => unknown)(...input.args);
      outcome = { kind: "return", values: show(result) };
    } catch (error) {
      outcome = { kind: "trap", error: describe(error) };
    }
    return { outcome, steps: this.steps(instance), fuel: fuelGlobal ? (fuelGlobal.value as bigint) : undefined, trace, ...this.state(instance) };
  }
}

let unreachableCache: string | undefined;
/** How this engine reports an `unreachable` trap (the trap the fuel check raises). */
function unreachableMessage(): string {
  if (unreachableCache) return unreachableCache;
  // (module (func (export "f") unreachable))
  const bytes = Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 7, 5, 1, 1, 0x66, 0, 0, 10, 5, 1, 3, 0, 0, 0x0b]);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
  try {
    (instance.exports.f as () => void)();
  } catch (error) {
    unreachableCache = describe(error);
  }
  return unreachableCache!;
}

function firstDifference(a: Uint8Array | undefined, b: Uint8Array | undefined): string | undefined {
  if (!a || !b) return a === b ? undefined : "one has no memory";
  if (a.length !== b.length) return `memory sizes differ: ${a.length} and ${b.length} bytes`;
  if (Buffer.from(a.buffer, a.byteOffset, a.length).equals(b)) return undefined;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `memory differs first at byte ${i}: ${a[i]} and ${b[i]}`;
  return undefined;
}

function showTrace(trace: readonly Probe[]): string {
  return trace.map((p) => `${p.steps}:${p.value}`).join(" ");
}

/** Differences between what the original did and what a metered run did (empty when they agree). */
function differences(original: Observation, metered: Observation): string[] {
  const out: string[] = [];
  if (JSON.stringify(original.outcome) !== JSON.stringify(metered.outcome)) {
    out.push(`outcome ${JSON.stringify(original.outcome)} became ${JSON.stringify(metered.outcome)}`);
  }
  const memory = firstDifference(original.memory, metered.memory);
  if (memory) out.push(memory);
  if (original.globals !== metered.globals) out.push(`globals ${original.globals} became ${metered.globals}`);
  if (original.steps !== metered.steps) out.push(`steps ${original.steps} became ${metered.steps}`);
  if (showTrace(original.trace) !== showTrace(metered.trace)) out.push(`probes [${showTrace(original.trace)}] became [${showTrace(metered.trace)}]`);
  return out;
}

/** Checks fuel against the program's step count at every probe of a metered run with `budget`. */
function probeFuel(run: Observation, budget: bigint): string | undefined {
  for (const p of run.trace) {
    if (p.fuel !== undefined && budget - p.fuel !== p.steps) return `at a probe after ${p.steps} steps, ${budget - p.fuel} fuel was spent`;
  }
  return undefined;
}

/**
 * Checks one program on its inputs; returns the first failure, if any. `stats` (when given)
 * counts what ran.
 */
export function checkProgram(program: Program, inputs: readonly Input[], options: CheckOptions, stats?: CheckStats): Failure | undefined {
  const original = encodeModule(lowerProgram(program));
  if (!WebAssembly.validate(original)) return { property: "generator", message: "the generated module does not validate (a fuzzer bug, not a meter bug)" };
  const budget = { fuel: options.ample, memoryBytes: options.capPages * 64 * 1024 };
  let metered: Uint8Array;
  try {
    metered = (options.meter ?? meterForBudget)(original, budget);
  } catch (error) {
    return { property: "meter-refused", message: `the rewriter threw ${describe(error)}` };
  }
  if (!WebAssembly.validate(metered)) {
    let why = "";
    try {
      new WebAssembly.Module(metered as unknown as ArrayBuffer);
    } catch (error) {
      why = `: ${describe(error)}`;
    }
    return { property: "validate", message: `the metered module does not validate${why}` };
  }
  const runner = new Runner(program, options);
  const originalModule = new WebAssembly.Module(original as unknown as ArrayBuffer);
  const meteredModule = new WebAssembly.Module(metered as unknown as ArrayBuffer);

  // Instantiation (the start function, if any): the same state, and the initial fuel spent exactly.
  const start = instantiationCheck(runner, originalModule, meteredModule, original, options);
  if (start !== true && start !== false) return start;
  // Both failed to instantiate the same way (the start function trapped): there is nothing to call.
  if (!start) return undefined;

  for (const input of inputs) {
    const fail = (property: string, message: string): Failure => ({ property, message, input });
    const base = runner.observe(originalModule, input);
    const ample = runner.observe(meteredModule, input, options.ample);
    if (stats) {
      stats.calls++;
      stats.steps += Number(base.steps);
      if (base.outcome.kind === "trap") {
        stats.traps++;
        stats.trapKinds[base.outcome.error] = (stats.trapKinds[base.outcome.error] ?? 0) + 1;
      }
    }
    const diff = differences(base, ample);
    if (diff.length) return fail("ample-same", `with ample fuel: ${diff.join("; ")}`);
    const spent = BigInt(options.ample) - ample.fuel!;
    if (spent !== base.steps) return fail("fuel-exact", `spent ${spent} fuel for ${base.steps} steps`);
    const probes = probeFuel(ample, BigInt(options.ample));
    if (probes) return fail("fuel-exact", probes);

    const n = Number(spent);
    const exact = runner.observe(meteredModule, input, n);
    const exactDiff = differences(base, exact);
    if (exactDiff.length) return fail("budget-n-same", `with a budget of exactly ${n}: ${exactDiff.join("; ")}`);
    if (exact.fuel !== 0n) return fail("budget-n-same", `a budget of exactly ${n} left ${exact.fuel} fuel`);

    const r = new Random((n * 2654435761) >>> 0);
    for (const k of new Set([n - 1, r.below(n)])) {
      if (k < 0) continue;
      const short = runner.observe(meteredModule, input, k);
      if (stats) stats.fuelTraps++;
      const at = `with a budget of ${k} (the call needs ${n})`;
      if (short.outcome.kind !== "trap" || short.outcome.error !== runner.fuelTrapError) {
        return fail("budget-short-traps", `${at}: ${JSON.stringify(short.outcome)}, not the trap ${runner.fuelTrapError}`);
      }
      if (short.fuel !== -1n) return fail("budget-short-traps", `${at}: the fuel left after the trap is ${short.fuel}, not -1`);
      if (short.steps !== BigInt(k)) return fail("budget-short-stops", `${at}: the program did ${short.steps} steps`);
      const expected = base.trace.filter((p) => p.steps <= BigInt(k));
      if (showTrace(expected) !== showTrace(short.trace)) {
        return fail("budget-short-stops", `${at}: probes [${showTrace(short.trace)}], expected [${showTrace(expected)}]`);
      }
      const fuel = probeFuel(short, BigInt(k));
      if (fuel) return fail("budget-short-stops", `${at}: ${fuel}`);
    }
  }
  return undefined;
}

/**
 * Property 6, and the same state after instantiation: true when it holds, false when both modules
 * fail to instantiate with the same error.
 */
function instantiationCheck(
  runner: Runner,
  originalModule: WebAssembly.Module,
  meteredModule: WebAssembly.Module,
  original: Uint8Array,
  options: CheckOptions,
): Failure | boolean {
  const attempt = (module: WebAssembly.Module) => {
    const sink: Sink = { trace: [] };
    try {
      const instance = runner.instantiate(module, sink);
      return { instance, sink, trace: sink.trace, error: undefined };
    } catch (error) {
      return { instance: undefined, sink, trace: sink.trace, error: describe(error) };
    }
  };
  const a = attempt(originalModule);
  const b = attempt(meteredModule);
  if (a.error !== b.error) return { property: "start-same", message: `instantiation: ${a.error ?? "fine"} became ${b.error ?? "fine"}` };
  if (showTrace(a.trace) !== showTrace(b.trace)) {
    return { property: "start-same", message: `start probes [${showTrace(a.trace)}] became [${showTrace(b.trace)}]` };
  }
  if (!a.instance || !b.instance) return false;
  const sa = runner.state(a.instance);
  const sb = runner.state(b.instance);
  const memory = firstDifference(sa.memory, sb.memory);
  if (memory || sa.globals !== sb.globals) {
    return { property: "start-same", message: `after instantiation: ${memory ?? `globals ${sa.globals} became ${sb.globals}`}` };
  }
  const steps = runner.steps(a.instance);
  const fuel = (b.instance.exports[FUEL_EXPORT] as WebAssembly.Global).value as bigint;
  if (BigInt(options.ample) - fuel !== steps) {
    return { property: "start-fuel", message: `the start function did ${steps} steps and spent ${BigInt(options.ample) - fuel} fuel` };
  }
  // Both are still as instantiated: the calls can start from them.
  runner.keep(originalModule, a.instance, a.sink);
  runner.keep(meteredModule, b.instance, b.sink);
  if (!runner.program.functions.some((f) => f.start)) return true;

  // Metered with exactly the fuel the start function needs, and with one unit less.
  const s = Number(steps);
  const withFuel = (fuel: number) =>
    new WebAssembly.Module((options.meter ?? meterForBudget)(original, { fuel, memoryBytes: options.capPages * 64 * 1024 }) as unknown as ArrayBuffer);
  const enough = attempt(withFuel(s));
  if (enough.error) {
    return { property: "start-fuel", message: `metered with the ${s} fuel its start function needs, the module fails to instantiate: ${enough.error}` };
  }
  const left = (enough.instance!.exports[FUEL_EXPORT] as WebAssembly.Global).value;
  if (left !== 0n) {
    return { property: "start-fuel", message: `metered with the ${s} fuel its start function needs, ${show(left)} fuel is left after instantiation` };
  }
  const short = attempt(withFuel(s - 1));
  if (short.error !== runner.fuelTrapError) {
    return { property: "start-fuel", message: `metered with ${s - 1} fuel (one less than its start function needs): ${short.error ?? "instantiated"}` };
  }
  const expected = a.trace.filter((p) => p.steps <= BigInt(s - 1));
  if (showTrace(expected) !== showTrace(short.trace)) {
    return { property: "start-fuel", message: `metered with ${s - 1} fuel: start probes [${showTrace(short.trace)}], expected [${showTrace(expected)}]` };
  }
  return true;
}
