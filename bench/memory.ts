/**
 * Resident memory (docs/design/performance.md): each gateway runtime idle after start, at its peak under
 * closed-loop load, and idle again after it; then RSS growth over many configuration swaps
 * in-process on Bun (bench/probes/swap-memory.ts). Run by bench/run.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { assertAlive, gatewayPlan, type Runtime, startArm } from "./lib/arms.ts";
import { type Bench, ROOT } from "./lib/context.ts";
import { sleep } from "./lib/options.ts";
import { runCapture, type Server } from "./lib/procs.ts";
import { formatRatio } from "./lib/report.ts";
import type { Measure, ScenarioResult } from "./lib/targets.ts";
import { runWrk } from "./lib/wrk.ts";
import { HELLO_BODY } from "./upstream.ts";
import { describeError } from "../config/schema/problems.ts";

/** How to run the memory scenario. */
export interface MemoryOptions {
  readonly runtimes: readonly Runtime[];
  /** Seconds of load for the "under load" reading. */
  readonly load: number;
  /** Configuration swaps in the in-process probe (the budget: 10,000). */
  readonly swaps: number;
  /** APIs in the configuration the probe swaps. */
  readonly apis: number;
}

const BUDGET = 60e6;
const mb = (bytes: number) => (Number.isFinite(bytes) ? `${(bytes / 1e6).toFixed(1)} MB` : "–");

/** The resident set size of process `pid` in bytes (from /proc), NaN if unknown. */
function rss(pid: number): number {
  try {
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kib ? Number(kib) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function gatewayMemory(bench: Bench, runtime: Runtime, seconds: number): Promise<{ idle: number; peak: number; after: number }> {
  const plan = await gatewayPlan(bench, runtime, bench.configFile);
  let server: Server | undefined;
  try {
    server = await startArm(bench, plan, HELLO_BODY);
    const pid = server?.pid ?? -1;
    await sleep(1000);
    const idle = rss(pid);
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rss(pid))), 200);
    try {
      await runWrk({ wrk: bench.wrk, url: plan.url, connections: 32, threads: 1, pin: bench.loadPin, seconds });
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, rss(pid));
    await assertAlive(server, "the load");
    await sleep(1000);
    return { idle, peak, after: rss(pid) };
  } finally {
    await server?.stop();
  }
}

interface SwapMemory {
  readonly before: { rss: number; heapUsed: number };
  readonly after: { rss: number; heapUsed: number };
  readonly msPerSwap: number;
}

async function swapMemory(bench: Bench, opts: MemoryOptions): Promise<SwapMemory> {
  const argv = [...bench.proxyPin, bench.bun, join(ROOT, "bench/probes/swap-memory.ts"), String(opts.swaps), String(opts.apis)];
  const { status, stdout, stderr } = await runCapture(argv, 600_000, { cwd: ROOT });
  const line = stdout.trim().split("\n").at(-1) ?? "";
  if (status !== "0" || !line.startsWith("{")) throw new Error(`swap-memory probe exited with ${status}: ${(stderr.trim() || stdout.trim()).slice(0, 2000)}`);
  return JSON.parse(line) as SwapMemory;
}

/** Runs the memory scenario. */
export async function memoryScenario(bench: Bench, opts: MemoryOptions): Promise<ScenarioResult> {
  const measures: Measure[] = [];
  const errors: string[] = [];
  const rows = ["| runtime | idle after start | peak under load | idle after load | idle vs 60 MB |", "|---|---:|---:|---:|---:|"];
  for (const runtime of opts.runtimes) {
    process.stderr.write(`[memory] ${runtime}: idle, then ${opts.load}s of load\n`);
    try {
      const m = await gatewayMemory(bench, runtime, opts.load);
      rows.push(`| ${bench.versions[runtime]} | ${mb(m.idle)} | ${mb(m.peak)} | ${mb(m.after)} | ${formatRatio(m.idle, BUDGET)} |`);
      if (runtime === "bun") {
        measures.push({ target: "rss-idle", value: `${mb(m.idle)} (${process.arch})`, met: Number.isFinite(m.idle) ? m.idle <= BUDGET : "n/a" });
      }
    } catch (error) {
      errors.push(`${runtime}: ${describeError(error)}`);
      rows.push(`| ${bench.versions[runtime]} | failed: ${describeError(error).split("\n")[0]!.replace(/\|/g, "\\|")} | | | |`);
    }
  }
  let swapRows: string[];
  process.stderr.write(`[memory] ${opts.swaps} swaps in-process\n`);
  try {
    const s = await swapMemory(bench, opts);
    const growth = ((s.after.rss - s.before.rss) / s.before.rss) * 100;
    swapRows = [
      "| swaps | APIs | RSS before | RSS after | growth | heap before | heap after | time per swap |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|",
      `| ${opts.swaps.toLocaleString("en-US")} | ${opts.apis.toLocaleString("en-US")} | ${mb(s.before.rss)} | ${mb(s.after.rss)} | ${growth.toFixed(1)} % | ${
        mb(s.before.heapUsed)
      } | ${mb(s.after.heapUsed)} | ${(s.msPerSwap * 1000).toFixed(0)} µs |`,
    ];
    measures.push({
      target: "rss-growth",
      value: `${growth.toFixed(1)} % over ${opts.swaps.toLocaleString("en-US")} swaps (in-process, ${opts.apis} APIs)`,
      met: growth <= 5,
    });
  } catch (error) {
    errors.push(`swaps: ${describeError(error)}`);
    swapRows = [`Swap probe failed: ${describeError(error).split("\n")[0]}`];
  }
  const markdown = [
    "### Resident memory",
    "",
    `Each gateway with the one-API configuration (no policies): RSS (\`VmRSS\`, 1 MB = 10⁶ bytes) 1 s after it is ready, its peak during ${opts.load}s of \`wrk -t1 -c32\` (sampled every 200 ms), and 1 s after the load.`,
    "",
    ...rows,
    "",
    `Configuration swaps in-process on Bun: one configuration of ${opts.apis} generated APIs is parsed once, applied 1,000 times (warm-up), then ${
      opts.swaps.toLocaleString("en-US")
    } more times through one \`PipelineHolder\`; RSS and heap read after \`Bun.gc(true)\` before and after.`,
    "",
    ...swapRows,
    ...(errors.length ? ["", "Failures:", "", "```", ...errors, "```"] : []),
  ].join("\n");
  return { markdown, measures, failed: errors.length > 0 };
}
