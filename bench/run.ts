#!/usr/bin/env bun
/**
 * Every benchmark scenario in one run: `bun bench/run.ts [--quick] [--only a,b] [--duration N]
 * [--runs N] [--warmup N]`. Prints each scenario's Markdown table, then the targets of docs/design/performance.md
 * with the measured value and met / not met / n/a. Nothing here asserts on speed: the exit code is
 * 1 only when a scenario could not run (2 for a bad option). See bench/README.md.
 */
import { parseArgs } from "node:util";
import { backupStartScenario } from "./backup-start.ts";
import { compileScenario } from "./compile.ts";
import { latencyScenario } from "./latency.ts";
import { ALL_ARMS, RUNTIMES } from "./lib/arms.ts";
import { type Bench, benchHeader, openBench } from "./lib/context.ts";
import { pick, type RunOptions, wholeNumber } from "./lib/options.ts";
import { installCleanup, runMain, stopAll } from "./lib/procs.ts";
import { type Measure, type ScenarioResult, targetsTable } from "./lib/targets.ts";
import { memoryScenario } from "./memory.ts";
import { policyCallsScenario } from "./policy-calls.ts";
import { policyChainScenario } from "./policy-chain.ts";
import { swapsScenario } from "./swaps.ts";
import { throughputScenario } from "./throughput.ts";
import { describeError } from "../config/schema/problems.ts";

const USAGE =
  "bun bench/run.ts [--quick] [--only throughput,throughput-1k,throughput-policies,latency,swaps,compile,memory,backup-start,policy-calls,policy-chain] [--duration N] [--runs N] [--warmup N]";

/** Each scenario with its quick and full settings (explicit --duration/--runs/--warmup win). */
const SCENARIOS: Record<string, (bench: Bench, o: RunOptions) => Promise<ScenarioResult>> = {
  throughput: (bench, o) => throughputScenario(bench, throughput(o, "/")),
  "throughput-1k": (bench, o) => throughputScenario(bench, throughput(o, "/1k")),
  "throughput-policies": (bench, o) => throughputScenario(bench, { ...throughput(o, "/"), arms: ["direct", "nginx", ...RUNTIMES], policies: true }),
  latency: (bench, o) =>
    latencyScenario(bench, {
      rate: 5000,
      connections: 10,
      duration: pick(o, o.duration, 2, 10),
      runs: pick(o, o.runs, 1, 3),
      warmup: pick(o, o.warmup, 1, 3),
      arms: ["direct", "bun-bare", "bun", "deno-bare", "deno", "node-bare", "node"],
    }),
  swaps: (bench, o) => swapsScenario(bench, { swaps: o.quick ? 10 : 100, warmup: pick(o, o.warmup, 1, 3) }),
  compile: (bench, o) => compileScenario(bench, { sizes: [1000, 10_000], reps: pick(o, o.runs, 1, 5) }),
  memory: (bench, o) => memoryScenario(bench, { runtimes: RUNTIMES, load: pick(o, o.duration, 1, 10), swaps: 10_000, apis: 1000 }),
  "backup-start": (bench, o) => backupStartScenario(bench, { runs: pick(o, o.runs, 3, 9), runtimes: RUNTIMES }),
  "policy-calls": (bench, o) => policyCallsScenario(bench, { quick: o.quick }),
  "policy-chain": (bench, o) =>
    // Eight rounds in a full run: with three, identical arms moved enough that 10 policies once read
    // faster than 5 (bench/RESULTS.md, 2026-12-04 21:23).
    policyChainScenario(bench, { rounds: pick(o, o.runs, 1, 8), duration: pick(o, o.duration, 1, 5), warmup: pick(o, o.warmup, 1, 2) }),
};

function throughput(o: RunOptions, path: string) {
  return { duration: pick(o, o.duration, 1, 10), runs: pick(o, o.runs, 1, 3), warmup: pick(o, o.warmup, 1, 3), arms: ALL_ARMS, path };
}

function options(): RunOptions & { only: string[] } {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      duration: { type: "string" },
      runs: { type: "string" },
      warmup: { type: "string" },
    },
    strict: true,
  });
  const only = values.only ? values.only.split(",").map((s) => s.trim()) : Object.keys(SCENARIOS);
  const unknown = only.filter((name) => !(name in SCENARIOS));
  if (unknown.length) throw new Error(`--only: unknown ${unknown.join(", ")} (known: ${Object.keys(SCENARIOS).join(", ")})`);
  return {
    quick: values.quick,
    only,
    duration: wholeNumber("duration", values.duration, 1),
    runs: wholeNumber("runs", values.runs, 1),
    warmup: wholeNumber("warmup", values.warmup, 0),
  };
}

async function main(): Promise<number> {
  installCleanup();
  let opts: ReturnType<typeof options>;
  try {
    opts = options();
  } catch (error) {
    process.stderr.write(`bench: ${describeError(error)}\nusage: ${USAGE}\n`);
    return 2;
  }
  const started = Date.now();
  try {
    const bench = await openBench({ nginx: opts.only.some((name) => name.startsWith("throughput")) });
    const sections: string[] = [];
    const measures: Measure[] = [];
    let failed = false;
    for (const name of opts.only) {
      process.stderr.write(`== ${name}\n`);
      try {
        const result = await SCENARIOS[name]!(bench, opts);
        sections.push(result.markdown);
        measures.push(...result.measures);
        failed ||= result.failed;
      } catch (error) {
        failed = true;
        sections.push([`### ${name}`, "", "Failed:", "", "```", (error as Error).stack ?? String(error), "```"].join("\n"));
      }
    }
    await bench.upstream.stop();
    const out = [
      `## Benchmarks, ${new Date(started).toISOString().replace(/\.\d+Z$/, "Z")}`,
      "",
      ...benchHeader(bench),
      `- command: \`bun bench/run.ts ${process.argv.slice(2).join(" ")}\`${
        opts.quick ? " (quick: tiny durations, proves the harness works; the numbers mean little)" : ""
      }`,
      `- wall time: ${Math.round((Date.now() - started) / 1000)} s`,
      ...bench.notes.map((n) => `- note: ${n}`),
      "",
      ...sections.flatMap((s) => [s, ""]),
      "### Targets ([docs/design/performance.md](../docs/design/performance.md))",
      "",
      ...(opts.quick ? ["Quick run: one short run per arm, so one hiccup of the machine can flip a verdict either way. Judge targets on a full run.", ""] : []),
      targetsTable(measures),
    ];
    process.stdout.write(`${out.join("\n")}\n`);
    return failed ? 1 : 0;
  } finally {
    await stopAll();
  }
}

runMain(main);
