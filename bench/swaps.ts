/**
 * Configuration swaps under load (docs/design/performance.md): while wrk drives the Bun gateway, the watched
 * configuration file is replaced N times, alternating two valid configurations that both route the
 * load path, each time waiting until `/readyz` shows the new revision. Then a steady run of the
 * same length. Reports failed requests and p99 during swaps vs steady. Run by bench/run.ts.
 */
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertAlive, gatewayPlan, startArm } from "./lib/arms.ts";
import { baseConfig, type Bench } from "./lib/context.ts";
import { sleep } from "./lib/options.ts";
import type { Server } from "./lib/procs.ts";
import { formatLatency, formatRatio, formatRps, median } from "./lib/report.ts";
import type { Measure, ScenarioResult } from "./lib/targets.ts";
import { runWrk, startWrk, type WrkResult } from "./lib/wrk.ts";
import { HELLO_BODY } from "./upstream.ts";
import { describeError } from "../config/schema/problems.ts";

/** How to run the swaps scenario. */
export interface SwapsOptions {
  /** How many times the file is replaced (the budget: 100). */
  readonly swaps: number;
  /** Seconds of discarded load first. */
  readonly warmup: number;
}

/** The second configuration: other names, another backend entry and an extra API; `/` still routes to the upstream. */
function otherConfig(upstreamPort: number): string {
  return [
    "apis:",
    "  - { name: bench-b, path: /, backend: upstream-b }",
    "  - { name: other, path: /other, backend: upstream-b }",
    "backends:",
    `  upstream-b: { urls: ["http://127.0.0.1:${upstreamPort}"], timeout: 20s }`,
    "",
  ].join("\n");
}

async function revision(managementUrl: string): Promise<number> {
  const response = await fetch(`${managementUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
  return ((await response.json()) as { revision?: number }).revision ?? 0;
}

/** Replaces `file` atomically (write then rename, as editors do) and waits until `want` is live; returns the ms it took. */
async function swap(file: string, text: string, managementUrl: string, want: number): Promise<number> {
  const start = performance.now();
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
  while (performance.now() - start < 5000) {
    if ((await revision(managementUrl)) >= want) return performance.now() - start;
    await sleep(10);
  }
  throw new Error(`revision ${want} was not applied within 5 s of writing the file`);
}

const failed = (r: WrkResult) => r.non2xx + r.socketErrors;

function row(name: string, r: WrkResult, seconds: number, steady: WrkResult): string {
  return `| ${
    [
      name,
      seconds.toFixed(1),
      r.requests.toLocaleString("en-US"),
      formatRps(r.rps),
      formatLatency(r.p50us),
      formatLatency(r.p99us),
      formatRatio(r.p99us, steady.p99us),
      failed(r),
    ].join(" | ")
  } |`;
}

/** Runs the swaps scenario on a Bun gateway. */
export async function swapsScenario(bench: Bench, opts: SwapsOptions): Promise<ScenarioResult> {
  const file = join(bench.dir, "swaps.yaml");
  const texts = [baseConfig(bench.upstreamPort), otherConfig(bench.upstreamPort)];
  writeFileSync(file, texts[0]!);
  const plan = await gatewayPlan(bench, "bun", file);
  const log = (line: string) => process.stderr.write(`[swaps] ${line}\n`);
  let server: Server | undefined;
  const loads: { stop(): Promise<WrkResult> }[] = [];
  try {
    server = await startArm(bench, plan, HELLO_BODY);
    const load = { wrk: bench.wrk, url: plan.url, connections: 32, threads: 1, pin: bench.loadPin };
    if (opts.warmup > 0) await runWrk({ ...load, seconds: opts.warmup });
    const first = await revision(plan.managementUrl!);
    const applyMs: number[] = [];
    log(`${opts.swaps} swaps under load`);
    const started = performance.now();
    const during = startWrk({ ...load, seconds: opts.swaps * 6 + 30 });
    loads.push(during);
    await sleep(100); // let wrk connect
    for (let i = 1; i <= opts.swaps; i++) applyMs.push(await swap(file, texts[i % 2]!, plan.managementUrl!, first + i));
    const swapping = await during.stop();
    const seconds = (performance.now() - started) / 1000;
    await assertAlive(server, "the swaps");
    log(`steady run of ${seconds.toFixed(1)}s`);
    const quiet = startWrk({ ...load, seconds: Math.ceil(seconds) + 30 });
    loads.push(quiet);
    await sleep(seconds * 1000);
    const steady = await quiet.stop();
    await assertAlive(server, "the steady run");
    const markdown = [
      `### ${opts.swaps} configuration swaps under load (Bun)`,
      "",
      `Closed loop \`wrk -t1 -c32\` on \`/\` while the watched file is replaced ${opts.swaps} times (write + rename), alternating two valid configurations that both route \`/\`, ` +
      `each swap waiting for its revision on \`/readyz\`; then a steady run of the same length. Failed = non-2xx + socket errors. ` +
      `Write to live (the file is polled every 200 ms): median ${median(applyMs).toFixed(0)} ms, max ${Math.max(...applyMs).toFixed(0)} ms.`,
      "",
      "| run | seconds | requests | rps | p50 | p99 | p99 vs steady | failed |",
      "|---|---:|---:|---:|---:|---:|---:|---:|",
      row("steady", steady, seconds, steady),
      row(`during ${opts.swaps} swaps`, swapping, seconds, steady),
    ].join("\n");
    const ratio = swapping.p99us / steady.p99us;
    const measures: Measure[] = [
      {
        target: "swaps-failed",
        value: `${failed(swapping)} failed of ${swapping.requests.toLocaleString("en-US")} (${opts.swaps} swaps)`,
        met: failed(swapping) === 0,
      },
      { target: "swaps-p99", value: `${formatLatency(swapping.p99us)} vs ${formatLatency(steady.p99us)} steady: ${ratio.toFixed(2)}×`, met: ratio <= 1.2 },
    ];
    return { markdown, measures, failed: false };
  } catch (error) {
    const message = describeError(error);
    log(`failed: ${message}`);
    const markdown = [`### ${opts.swaps} configuration swaps under load (Bun)`, "", "Failed:", "", "```", message, "```"].join("\n");
    return { markdown, measures: [{ target: "swaps-failed", value: "scenario failed", met: "n/a" }], failed: true };
  } finally {
    for (const running of loads) await running.stop().catch(() => undefined); // after a failure wrk may still run
    await server?.stop();
  }
}
