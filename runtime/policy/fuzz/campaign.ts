/**
 * A fuzzing run: programs drawn from consecutive seeds, each checked on a few inputs (see
 * differential.ts), and for the first failure a shrunk reproduction written to a temporary
 * folder (the original and metered modules as .wasm, the original as text). Used by the test in
 * `npm test` (a fixed seed, a bounded count) and by `runtime/policy/meter-fuzz.ts` (longer runs).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { meterForBudget } from "../extism.ts";
import { type CheckOptions, checkProgram, type CheckStats, drawInputs, type Failure, type Input } from "./differential.ts";
import { generateProgram } from "./generate.ts";
import { lowerProgram } from "./program.ts";
import { shrink } from "./shrink.ts";
import { encodeModule } from "./wasm-module.ts";
import { toWat } from "./wat.ts";

/** The budget of `npm test` and of the script unless told otherwise: 16 MiB of memory (256 pages), fuel no program spends. */
export const DEFAULT_CHECK: CheckOptions = { capPages: 256, ample: 2 ** 40 };

/** Inputs (calls) checked per module. */
export const INPUTS_PER_MODULE = 3;

/** A case that failed: its seed (rerun it alone with that seed and a count of 1) and what failed. */
export interface FailedCase {
  readonly seed: number;
  readonly failure: Failure;
}

/** What a run did. */
export interface CampaignResult {
  readonly modules: number;
  readonly stats: CheckStats;
  readonly failed?: FailedCase;
  readonly ms: number;
}

/**
 * Checks `count` programs, drawn from seeds `seed`, `seed + 1`, ...; stops at the first failure.
 * `progress` is called after each module.
 */
export function runCampaign(seed: number, count: number, options: CheckOptions = DEFAULT_CHECK, progress?: (done: number) => void): CampaignResult {
  const started = performance.now();
  const stats: CheckStats = { calls: 0, traps: 0, trapKinds: {}, fuelTraps: 0, steps: 0 };
  for (let i = 0; i < count; i++) {
    const caseSeed = (seed + i) >>> 0;
    const program = generateProgram(caseSeed, { capPages: options.capPages });
    let failure: Failure | undefined;
    try {
      failure = checkProgram(program, drawInputs(program, caseSeed, INPUTS_PER_MODULE), options, stats);
    } catch (error) {
      failure = { property: "harness", message: `the check threw: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}` };
    }
    progress?.(i + 1);
    if (failure) return { modules: i + 1, stats, failed: { seed: caseSeed, failure }, ms: performance.now() - started };
  }
  return { modules: count, stats, ms: performance.now() - started };
}

function showInput(input: Input | undefined): string {
  if (!input) return "(none: the failure is in validation or instantiation)";
  return `${input.entry}(${input.args.map((a) => (typeof a === "bigint" ? `${a}n` : String(a))).join(", ")}) with ${input.calls} calls allowed`;
}

/**
 * Shrinks a failed case and writes its reproduction to a new temporary folder: `original.wasm`,
 * `metered.wasm` (as the policy cache meters it), `original.wat`. Returns a report naming the
 * seed, the property, the input and the files.
 */
export function reproduce(failed: FailedCase, options: CheckOptions = DEFAULT_CHECK): string {
  const program = generateProgram(failed.seed, { capPages: options.capPages });
  const input = failed.failure.input;
  let failure = failed.failure;
  let shrinkNote = "";
  try {
    failure = shrink(program, input, failed.failure, options);
  } catch (error) {
    shrinkNote = ` (shrinking stopped: ${error instanceof Error ? error.message : String(error)})`;
  }
  const spec = lowerProgram(program);
  const original = encodeModule(spec);
  const dir = mkdtempSync(join(tmpdir(), `meter-fuzz-${failed.seed}-`));
  writeFileSync(join(dir, "original.wasm"), original);
  writeFileSync(join(dir, "original.wat"), toWat(spec) + "\n");
  try {
    writeFileSync(join(dir, "metered.wasm"), (options.meter ?? meterForBudget)(original, { fuel: options.ample, memoryBytes: options.capPages * 64 * 1024 }));
  } catch (error) {
    writeFileSync(join(dir, "metered-error.txt"), `${error instanceof Error ? error.message : String(error)}\n`);
  }
  return [
    `meter fuzz: case seed ${failed.seed} fails "${failed.failure.property}": ${failed.failure.message}`,
    `  input: ${showInput(input)}`,
    `  shrunk${shrinkNote}: ${failure.message}`,
    `  reproduction (shrunk): ${dir}/original.wasm, metered.wasm, original.wat`,
    `  rerun: bun runtime/policy/meter-fuzz.ts --seed ${failed.seed} --count 1${
      options.capPages === DEFAULT_CHECK.capPages ? "" : ` --pages ${options.capPages}`
    }`,
  ].join("\n");
}
