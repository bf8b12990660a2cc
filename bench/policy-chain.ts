/**
 * What a chain of policies costs inside the gateway: one Bun gateway with 0, 1, 5 and 10 WebAssembly
 * `set-header` policies (about half inbound, half outbound), the arms alternating round after round
 * (`wrk -t1 -c32`, pinned), each with its JSON access log on as shipped (to a file, as in the
 * throughput scenarios; until 2026-12-05 this scenario ran without it). Reports each arm's
 * requests/s against no policies, the time per request it adds and that time per policy, from
 * throughput and from the gateway's CPU per request, then each arm against no policies paired by
 * round (the figure the targets are judged on: unpaired medians move with the machine's drift).
 * Targets (docs/design/performance.md): 5 policies ≥ 0.80 × no policies, 10 policies ≥ 0.65 ×.
 * Run by bench/run.ts (`policy-chain`).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { alternateArms, type ArmRun, type GatewayArm, PAIRED_HEADER, pairedRatio, pairedRows } from "./lib/alternate.ts";
import type { Bench } from "./lib/context.ts";
import { median, table } from "./lib/report.ts";
import type { Measure, ScenarioResult } from "./lib/targets.ts";

/** How to run the policy-chain scenario. */
export interface PolicyChainOptions {
  readonly rounds: number;
  readonly duration: number;
  readonly warmup: number;
}

/** The chain lengths measured; the first is the baseline. */
const LENGTHS = [0, 1, 5, 10] as const;

/** A configuration with `count` set-header policies: the first half (rounded up) inbound, the rest outbound. */
function chainConfig(upstreamPort: number, count: number): string {
  const use = (i: number) => `        - { policy: set-header, with: { name: x-chain-${i}, value: v${i} } }\n`;
  const inbound = Math.ceil(count / 2);
  const list = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => use(from + i)).join("");
  const policies = count === 0
    ? ""
    : `    policies:\n      inbound:\n${list(0, inbound)}` + (count > inbound ? `      outbound:\n${list(inbound, count)}` : "");
  return `apis:\n  - name: bench\n    path: /\n    backend: upstream\n${policies}backends:\n  upstream: { urls: ["http://127.0.0.1:${upstreamPort}"], timeout: 30s }\n`;
}

/** Runs the scenario: the table and the chain targets. */
export async function policyChainScenario(bench: Bench, opts: PolicyChainOptions): Promise<ScenarioResult> {
  const arms: GatewayArm[] = LENGTHS.map((count) => {
    const configFile = join(bench.dir, `chain-${count}.yaml`);
    writeFileSync(configFile, chainConfig(bench.upstreamPort, count));
    // As shipped: the JSON access log on, written to a file (the process's stdout).
    return { name: `${count} ${count === 1 ? "policy" : "policies"}`, configFile, env: { PORTICO_TELEMETRY_LOGS_STD: "json" } };
  });
  const results = await alternateArms(bench, arms, { ...opts, tag: "policy-chain" });
  const rpsOf = (runs: readonly ArmRun[]) => median(runs.map((r) => r.rps));
  const cpuOf = (runs: readonly ArmRun[]) => median(runs.map((r) => r.cpuUsPerRequest));
  const base = results.get(arms[0]!.name)!;
  const rows = arms.map((arm, i) => {
    const runs = results.get(arm.name)!;
    const rps = rpsOf(runs);
    const count = LENGTHS[i]!;
    const added = 1e6 / rps - 1e6 / rpsOf(base);
    const addedCpu = cpuOf(runs) - cpuOf(base);
    return [
      arm.name,
      Math.round(rps).toLocaleString("en"),
      runs.map((r) => Math.round(r.rps).toLocaleString("en")).join(" / "),
      `${(rps / rpsOf(base)).toFixed(2)}×`,
      count ? `${added.toFixed(2)} µs (${(added / count).toFixed(2)} per policy)` : "",
      Number.isFinite(addedCpu) && count ? `${addedCpu.toFixed(1)} µs (${(addedCpu / count).toFixed(2)} per policy)` : "",
    ];
  });
  const ratio = (count: number) => pairedRatio(base, results.get(arms[LENGTHS.indexOf(count as (typeof LENGTHS)[number])]!.name)!, (r) => r.rps);
  const measures: Measure[] = [
    { target: "chain-5", value: `${ratio(5).toFixed(2)}× no policies (paired by round)`, met: ratio(5) >= 0.8 },
    { target: "chain-10", value: `${ratio(10).toFixed(2)}× no policies (paired by round)`, met: ratio(10) >= 0.65 },
  ];
  const markdown = [
    `### Policy chain on Bun: 0, 1, 5 and 10 set-header policies`,
    "",
    `\`wrk -t1 -c32 -d${opts.duration}s\` after ${opts.warmup}s warm-up, ${opts.rounds} round(s), arms alternating (reversed every other round); each gateway's JSON access log on (the shipped default, to a file). Time added per request from 1 / rps, and from the gateway's CPU per request (/proc, 10 ms ticks).`,
    "",
    table(["chain", "rps (median)", "runs", "vs no policies", "added per request (throughput)", "added per request (CPU)"], rows),
    "",
    "Against no policies, paired by round (median over rounds; the targets are judged on this):",
    "",
    table(PAIRED_HEADER, pairedRows(arms, results)),
  ].join("\n");
  return { markdown, measures, failed: false };
}
