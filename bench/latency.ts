/**
 * Added latency at a fixed rate below the knee (docs/design/performance.md): `autocannon -R RATE` against the
 * upstream directly and through each Portico runtime, gateway on CPU 0, autocannon and upstream on
 * CPU 1. Reports p50/p99 and what the gateway adds over direct. Run by bench/run.ts.
 */
import { type ArmName, armPlan, assertAlive, type Runtime, RUNTIMES, startArm } from "./lib/arms.ts";
import { type AutocannonResult, runAutocannon } from "./lib/autocannon.ts";
import type { Bench } from "./lib/context.ts";
import type { Server } from "./lib/procs.ts";
import { formatLatency, formatRatio, formatRps, median } from "./lib/report.ts";
import type { Measure, ScenarioResult } from "./lib/targets.ts";
import { HELLO_BODY } from "./upstream.ts";
import { describeError } from "../config/schema/problems.ts";

/** How to run the latency scenario. */
export interface LatencyOptions {
  /** autocannon `-R`: requests per second over all connections (the budget: 5,000). */
  readonly rate: number;
  /** autocannon `-c`; 10 is autocannon's default. */
  readonly connections: number;
  readonly duration: number;
  readonly runs: number;
  /** Seconds of discarded load before the first run of each arm. */
  readonly warmup: number;
  /** Direct, Portico on a runtime, or a runtime's bare proxy (its ceiling: what the runtime's own server and client add). */
  readonly arms: readonly ArmName[];
}

interface Row {
  readonly arm: string;
  readonly runtime: string;
  readonly runs: AutocannonResult[];
  readonly error?: string;
}

const med = (row: Row | undefined, key: "rps" | "p50us" | "p99us" | "spread") => (row?.runs.length ? median(row.runs.map((r) => r[key])) : NaN);

async function measure(bench: Bench, arm: ArmName, opts: LatencyOptions): Promise<Row> {
  const plan = (await armPlan(bench, arm))!;
  // Gateways as shipped: the JSON access log on (to a file). The bare proxies log nothing.
  if (RUNTIMES.includes(arm as Runtime)) plan.env!.PORTICO_TELEMETRY_LOGS_STD = "json";
  const runs: AutocannonResult[] = [];
  let server: Server | undefined;
  try {
    server = await startArm(bench, plan, HELLO_BODY);
    for (let i = 1; i <= opts.runs; i++) {
      const result = await runAutocannon(bench, {
        url: plan.url,
        rate: opts.rate,
        connections: opts.connections,
        seconds: opts.duration,
        warmup: i === 1 ? opts.warmup : 0,
      });
      await assertAlive(server, `run ${i}`);
      runs.push(result);
      process.stderr.write(
        `[latency: ${arm}] run ${i}/${opts.runs}: ${Math.round(result.rps)} rps, p50 ${formatLatency(result.p50us)}, p99 ${formatLatency(result.p99us)}\n`,
      );
    }
    return { arm, runtime: plan.runtime, runs };
  } catch (error) {
    process.stderr.write(`[latency: ${arm}] failed: ${describeError(error)}\n`);
    return { arm, runtime: plan.runtime, runs, error: describeError(error) };
  } finally {
    await server?.stop();
  }
}

function table(rows: readonly Row[], direct: Row | undefined): string {
  const header = ["arm", "runtime", "achieved rps", "p50", "p99", "added p50", "added p99", "p50 vs direct", "p99 vs direct", "spread", "errors"];
  const lines = [`| ${header.join(" | ")} |`, `|${header.map((_, i) => (i < 2 ? "---" : "---:")).join("|")}|`];
  for (const row of rows) {
    const [p50, p99] = [med(row, "p50us"), med(row, "p99us")];
    const [d50, d99] = [med(direct, "p50us"), med(direct, "p99us")];
    const errors = row.error ? row.error.split("\n")[0]!.slice(0, 100).replace(/\|/g, "\\|") : String(row.runs.reduce((n, r) => n + r.non2xx + r.errors, 0));
    const added = (value: number, base: number) => (row === direct ? "–" : formatLatency(value - base));
    const cells = row.runs.length
      ? [
        formatRps(med(row, "rps")),
        formatLatency(p50),
        formatLatency(p99),
        added(p50, d50),
        added(p99, d99),
        formatRatio(p50, d50),
        formatRatio(p99, d99),
        `${Math.round(med(row, "spread") * 100)} %`,
        errors,
      ]
      : ["failed", "–", "–", "–", "–", "–", "–", "–", errors];
    lines.push(`| ${[row.arm, row.runtime, ...cells].join(" | ")} |`);
  }
  return lines.join("\n");
}

function measures(rows: readonly Row[], direct: Row | undefined, rate: number): Measure[] {
  const out: Measure[] = [];
  // The targets are Portico's; the bare proxies' rows are there to show what each runtime adds itself.
  for (const row of rows.filter((r) => r !== direct && RUNTIMES.includes(r.arm as Runtime))) {
    const runtime = row.arm as Runtime;
    const rps = med(row, "rps");
    const short = rps < rate * 0.95 ? ` (rate not reached: ${formatRps(rps)} rps)` : "";
    for (const [p, key, budget] of [["p50", "p50us", 150], ["p99", "p99us", 1000]] as const) {
      const added = med(row, key) - med(direct, key);
      out.push(
        Number.isFinite(added)
          ? { target: `latency-${p}-${runtime}`, value: `${formatLatency(added)}${short}`, met: added <= budget }
          : { target: `latency-${p}-${runtime}`, value: row.error ? "arm failed" : "direct arm failed", met: "n/a" },
      );
    }
  }
  return out;
}

/** Runs the latency scenario: each arm in turn at the fixed rate, then the table and its measures. */
export async function latencyScenario(bench: Bench, opts: LatencyOptions): Promise<ScenarioResult> {
  const rows: Row[] = [];
  for (const arm of opts.arms) rows.push(await measure(bench, arm, opts));
  const direct = rows.find((r) => r.arm === "direct" && r.runs.length);
  const markdown = [
    `### Added latency at ${formatRps(opts.rate)} rps, hello world body, no policies, the gateways' JSON access log on (the shipped default, to a file)`,
    "",
    `\`autocannon -R ${opts.rate} -c ${opts.connections} -d ${opts.duration}\` (programmatic, on Node, CPU 1), ${opts.runs} run(s) per arm after ${opts.warmup}s warm-up; medians. ` +
    "Percentiles come from every response's own time (µs), not autocannon's whole-millisecond histogram. " +
    '"spread" is the share of 10 ms slots in which responses arrived: autocannon\'s `-R` gives each connection a per-second quota that it sends back to back, ' +
    "so well under 100 % means the rate came as bursts at the start of each second, at up to `-c` requests in flight.",
    "",
    table(rows, direct),
  ].join("\n");
  return { markdown, measures: measures(rows, direct, opts.rate), failed: rows.some((r) => r.error) };
}
