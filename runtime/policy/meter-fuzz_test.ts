/**
 * Differential fuzzing of the metering rewriter (`meter.ts`), with a fixed seed and a bounded
 * count so that it is the same run on every runtime and every time. The generator, the checked
 * properties and the shrinker live in `runtime/policy/fuzz/`; longer runs with any seed:
 * `bun runtime/policy/meter-fuzz.ts --seed N --count M` (see that file). A failure names the
 * case's seed and writes a shrunk reproduction (.wasm and .wat) to a temporary folder.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { meterForBudget } from "./extism.ts";
import { DEFAULT_CHECK, INPUTS_PER_MODULE, reproduce, runCampaign } from "./fuzz/campaign.ts";
import { generateProgram } from "./fuzz/generate.ts";
import type { Program } from "./fuzz/program.ts";

const SEED = 20_240_611;
const COUNT = 100;

/** The constructs a program holds (statically), by name. */
function constructs(program: Program): Set<string> {
  const found = new Set<string>();
  const walk = (node: unknown, fn: number, loops: number): void => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, fn, loops));
    if (!node || typeof node !== "object") return;
    const k = (node as { k?: string }).k;
    const other = node as { ok?: string; fk?: string; vk?: string; op?: string };
    if (other.fk) found.add(`float ${other.fk}`);
    if (other.vk) found.add(`vector ${other.vk}`);
    if (other.ok) found.add(other.ok === "ref" ? "reference" : `to integer by ${other.ok}`);
    let inner = loops;
    if (k === "loop" || k === "valueLoop") {
      inner = loops + 1;
      found.add(k);
      if (inner >= 2) found.add("nested loop");
      if (inner >= 3) found.add("loop three deep");
    } else if (k === "call" || k === "callStmt") found.add((node as { f: number }).f === fn ? "recursion" : "call");
    else if (k === "bin" && /\.(div|rem)_/.test((node as { op: string }).op)) found.add("division");
    else if (k === "switch") found.add("br_table");
    else if (k === "trap") found.add("unreachable");
    else if (k !== undefined) found.add(k);
    for (const value of Object.values(node)) walk(value, fn, inner);
  };
  program.functions.forEach((f, i) => {
    walk(f.body, program.importedFunctions + i, 0);
    walk(f.returns, program.importedFunctions + i, 0);
    if (f.start) found.add("start function");
    if (f.pad) found.add("padded LEB128");
  });
  if (program.imports.some((i) => i.kind === "global")) found.add("imported global");
  if (program.counters.k === "memory" && program.globals.length === 0) found.add("no global section");
  return found;
}

describe("metering rewriter: differential fuzzing", () => {
  it(
    `on ${COUNT} generated modules (seed ${SEED}, ${INPUTS_PER_MODULE} calls each): the metered module validates, behaves as the original with ample fuel and with exactly the fuel it spent, spends one unit per function entry and loop iteration, and traps for fuel after exactly k steps with any budget k below that`,
    { timeout: 120_000 },
    () => {
      const result = runCampaign(SEED, COUNT);
      if (result.failed) assert.fail(reproduce(result.failed));
      assert.equal(result.modules, COUNT);
      const { stats } = result;
      // What ran: most modules instantiate and are called; some calls trap on their own; most calls are also run short of fuel.
      assert.ok(stats.calls >= COUNT * 2, `${stats.calls} calls`);
      assert.ok(stats.traps > 0 && stats.traps < stats.calls / 2, `${stats.traps} of ${stats.calls} calls trapped in the original`);
      assert.ok(stats.fuelTraps >= stats.calls, `${stats.fuelTraps} runs stopped for fuel`);
      assert.ok(stats.steps >= stats.calls * 5, `${stats.steps} steps in ${stats.calls} calls`);
    },
  );

  it("draws, for that seed, modules with nested loops, loops with a parameter, calls, recursion, calls through a table, tail calls, br_table, early returns, unreachable, divisions, memory.grow, fill, copy, init and data.drop, a start function, imports, padded LEB128, float constants and conversions, vector constants, shuffles, lanes and stores, and references", () => {
    const seen = new Set<string>();
    for (let i = 0; i < COUNT; i++) for (const c of constructs(generateProgram(SEED + i, DEFAULT_CHECK))) seen.add(c);
    const wanted = [
      "loop",
      "nested loop",
      "loop three deep",
      "valueLoop",
      "call",
      "recursion",
      "callIndirect",
      "br_table",
      "return",
      "unreachable",
      "division",
      "tailCall",
      "memGrow",
      "fill",
      "copy",
      "init",
      "dataDrop",
      "start function",
      "imported global",
      "host",
      "probe",
      "padded LEB128",
      "no global section",
      "brValue",
      "blockExpr",
      "ifExpr",
      "load",
      "store",
      "float const",
      "float convert",
      "float bin",
      "float load",
      "to integer by compare",
      "to integer by truncate",
      "to integer by vector",
      "vector const",
      "vector shuffle",
      "vector replace",
      "vector loadLane",
      "vector floatLane",
      "float lane",
      "vstore",
      "reference",
    ];
    assert.deepEqual(wanted.filter((c) => !seen.has(c)), []);
  });

  it("reports a rewriter whose fuel check traps one unit early (i64.le_s for i64.lt_s), naming the failing case's seed", () => {
    // The fuel check meter.ts writes ends in `i64.const 0; i64.lt_s; if; unreachable; end`.
    const early = (bytes: Uint8Array, budget: { fuel: number; memoryBytes: number }) => {
      const out = meterForBudget(bytes, budget);
      for (let i = 0; i + 6 < out.length; i++) {
        if (
          out[i] === 0x42 && out[i + 1] === 0x00 && out[i + 2] === 0x53 && out[i + 3] === 0x04 && out[i + 4] === 0x40 && out[i + 5] === 0x00 &&
          out[i + 6] === 0x0b
        ) out[i + 2] = 0x57;
      }
      return out;
    };
    const result = runCampaign(SEED, 10, { ...DEFAULT_CHECK, meter: early });
    assert.ok(result.failed, "the broken rewriter went unnoticed");
    assert.equal(result.failed.seed, SEED + result.modules - 1);
    assert.match(result.failed.failure.property, /^(budget-n-same|start-fuel)$/);
  });
});
