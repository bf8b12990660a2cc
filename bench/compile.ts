/**
 * Validate + compile + swap time for 1,000 and 10,000 APIs (docs/design/performance.md), in-process on Bun
 * (bench/probes/compile.ts, pinned to the gateway's CPU), several repetitions, medians. Each API
 * has 3 policy uses, as the target says. Run by bench/run.ts.
 */
import { join } from "node:path";
import { type Bench, ROOT } from "./lib/context.ts";
import { runCapture } from "./lib/procs.ts";
import { formatRatio, median } from "./lib/report.ts";
import type { Measure, ScenarioResult } from "./lib/targets.ts";
import { describeError } from "../config/schema/problems.ts";

/** How to run the compile scenario. */
export interface CompileOptions {
  /** API counts to generate, e.g. [1000, 10000]. */
  readonly sizes: readonly number[];
  /** Measured repetitions per size (after one discarded warm-up). */
  readonly reps: number;
}

interface ProbeResult {
  readonly apis: number;
  readonly bytes: number;
  readonly loadMs: number[];
  readonly validateMs: number[];
  readonly applyMs: number[];
  readonly jsonLoadMs: number[];
  readonly jsonApplyMs: number[];
}

const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(n < 10 ? 2 : 0)} ms`);

async function probe(bench: Bench, apis: number, reps: number): Promise<ProbeResult> {
  const argv = [...bench.proxyPin, bench.bun, join(ROOT, "bench/probes/compile.ts"), String(apis), String(reps)];
  const { status, stdout, stderr } = await runCapture(argv, 300_000, { cwd: ROOT });
  const line = stdout.trim().split("\n").at(-1) ?? "";
  if (status !== "0" || !line.startsWith("{")) {
    throw new Error(`compile probe (${apis} APIs) exited with ${status}: ${(stderr.trim() || stdout.trim()).slice(0, 2000)}`);
  }
  return JSON.parse(line) as ProbeResult;
}

/** Runs the compile probe for each size and tabulates medians against the 1 s budget. */
export async function compileScenario(bench: Bench, opts: CompileOptions): Promise<ScenarioResult> {
  const lines = [
    "| APIs | YAML | parse + validate | of which validate | compile + swap | total (file, YAML) | as JSON from a control plane: load + compile + swap | vs 1 s budget (JSON) | runs (JSON total) |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
  ];
  const measures: Measure[] = [];
  let failed = false;
  for (const apis of opts.sizes) {
    process.stderr.write(`[compile] ${apis} APIs, ${opts.reps} repetition(s)\n`);
    try {
      const r = await probe(bench, apis, opts.reps);
      const total = median(r.loadMs.map((load, i) => load + r.applyMs[i]!));
      const jsonTotals = r.jsonLoadMs.map((load, i) => load + r.jsonApplyMs[i]!);
      const jsonTotal = median(jsonTotals);
      const cells = [
        apis.toLocaleString("en-US"),
        `${Math.round(r.bytes / 1024)} KiB`,
        ms(median(r.loadMs)),
        ms(median(r.validateMs)),
        ms(median(r.applyMs)),
        ms(total),
        `${ms(jsonTotal)} (${ms(median(r.jsonLoadMs))} + ${ms(median(r.jsonApplyMs))})`,
        formatRatio(jsonTotal, 1000),
        jsonTotals.map(ms).join(", "),
      ];
      lines.push(`| ${cells.join(" | ")} |`);
      if (apis === 10_000) {
        measures.push({ target: "compile-10k", value: `${ms(jsonTotal)} from a control plane (JSON); ${ms(total)} from a YAML file`, met: jsonTotal <= 1000 });
      }
    } catch (error) {
      failed = true;
      lines.push(`| ${apis.toLocaleString("en-US")} | failed: ${describeError(error).split("\n")[0]!.replace(/\|/g, "\\|")} | | | | | | | |`);
    }
  }
  const markdown = [
    "### Validate + compile + swap, in-process on Bun",
    "",
    `Generated YAML: N APIs (\`/api-N\`, 10 shared backends), no operations, 3 \`set-header\` uses per API whose parameters repeat every 10 APIs (12 distinct instances; see docs/design/policy-engine.md for uses that all differ). Each repetition compiles into a fresh holder, so every instance is made anew. ` +
    `Parse + validate is \`snapshotFromText\` (YAML parse, schema and cross-reference checks, and building the snapshot); "of which validate" is \`validateConfig\` alone on the parsed document; ` +
    `compile + swap is \`PipelineHolder.apply\` of the snapshot. The JSON column is the same configuration as a control plane sends it, loaded with \`snapshotFromJson\` (JSON.parse + validate + build) and compiled; the target is judged on it, since 10,000 APIs come from a control plane rather than a hand-edited file. ${opts.reps} repetition(s) after one discarded warm-up; medians. Probe pinned to CPU 0.`,
    "",
    ...lines,
  ].join("\n");
  return { markdown, measures, failed };
}
