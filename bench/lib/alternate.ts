/**
 * Arms of one Bun gateway under the same load, alternating round after round, and the table that
 * compares each arm with the first: the shape of the scenarios that price one feature per request
 * (bench/consumers.ts, bench/telemetry.ts, bench/redis.ts, bench/cache.ts), closed-loop or at a fixed rate.
 * Alternating in one run keeps a drifting machine fair, and every other round runs the arms in the
 * reverse order, since the same arm measured faster in the last place of a round than in the
 * first (bench/RESULTS.md, 2026-12-02 17:40). `pairedRows` and `pairedLatencyRows` compare arms
 * within each round, then take the median over rounds: a drift between rounds then cancels out.
 */
import { assertAlive, gatewayPlan, startArm } from "./arms.ts";
import type { Bench } from "./context.ts";
import { sleep } from "./options.ts";
import { median, pairedDifference, pairedRatio } from "./report.ts";
import { runWrk, type WrkResult } from "./wrk.ts";
import { HELLO_BODY } from "../upstream.ts";
import { readdirSync, readFileSync } from "node:fs";
import { type AutocannonResult, runAutocannon } from "./autocannon.ts";

export { pairedDifference, pairedRatio };

/** One measured run of an arm: wrk's figures and the gateway's CPU time per request. */
export interface ArmRun extends WrkResult {
  /** CPU time (user + system) the gateway process used during the run, per request, in µs; NaN where /proc is not readable. */
  readonly cpuUsPerRequest: number;
}

/** CPU time a process has used so far, in µs (Linux /proc, clock ticks of 10 ms); NaN when unreadable. */
export function cpuUs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return NaN;
  }
}

/**
 * CPU time a process and its descendants have used so far, in µs (see `cpuUs`): nginx's master
 * process does no proxying, its worker does. NaN when the process is unreadable.
 */
export function treeCpuUs(pid: number | undefined): number {
  let total = cpuUs(pid);
  if (!Number.isFinite(total)) return total;
  for (const child of childPids(pid!)) {
    const used = treeCpuUs(child);
    if (Number.isFinite(used)) total += used;
  }
  return total;
}

/** The children of a process (Linux /proc; empty when unreadable). */
function childPids(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(" ")) {
        if (child.trim()) children.push(Number(child));
      }
    }
  } catch {
    // gone, or no /proc: no children counted
  }
  return children;
}

/** One setting of the gateway under test. */
export interface GatewayArm {
  readonly name: string;
  readonly configFile: string;
  /** Settings as `PORTICO_*` variables, over the bench's. */
  readonly env?: Readonly<Record<string, string>>;
  /** Request headers wrk sends. */
  readonly headers?: readonly string[];
  /** Path under the gateway's URL that the load asks for (default: the URL itself). */
  readonly path?: string;
}

/** How long each arm runs per round. */
export interface Rounds {
  readonly rounds: number;
  readonly duration: number;
  readonly warmup: number;
  /** Prefix of the progress lines on stderr. */
  readonly tag: string;
}

/** The arms in the order of round `round` (from 1): as given in odd rounds, reversed in even ones. */
export function roundOrder<T>(arms: readonly T[], round: number): readonly T[] {
  return round % 2 === 1 ? arms : [...arms].reverse();
}

/**
 * Runs every arm once per round (`wrk -t1 -c32`, pinned), in the round's order (`roundOrder`);
 * every run by arm name, in round order. A non-2xx answer or a socket error stops the scenario.
 */
export async function alternateArms(bench: Bench, arms: readonly GatewayArm[], { rounds, duration, warmup, tag }: Rounds): Promise<Map<string, ArmRun[]>> {
  const results = new Map<string, ArmRun[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const arm of roundOrder(arms, round)) {
      const plan = await gatewayPlan(bench, "bun", arm.configFile);
      Object.assign(plan.env!, arm.env ?? {});
      const server = await startArm(bench, plan, HELLO_BODY);
      try {
        const load = {
          wrk: bench.wrk,
          url: `${plan.url}${arm.path ?? ""}`,
          connections: 32,
          threads: 1,
          pin: bench.loadPin,
          headers: [...(arm.headers ?? [])],
        };
        if (warmup) await runWrk({ ...load, seconds: warmup });
        const cpuBefore = cpuUs(server?.pid);
        const measured = await runWrk({ ...load, seconds: duration });
        const result: ArmRun = { ...measured, cpuUsPerRequest: (cpuUs(server?.pid) - cpuBefore) / measured.requests };
        await assertAlive(server, `round ${round}`);
        if (result.non2xx || result.socketErrors) throw new Error(`${arm.name}: ${result.non2xx} non-2xx, ${result.socketErrors} socket errors`);
        results.set(arm.name, [...(results.get(arm.name) ?? []), result]);
        process.stderr.write(`[${tag}] round ${round} ${arm.name}: ${Math.round(result.rps)} rps\n`);
      } finally {
        await server?.stop();
        await sleep(300);
      }
    }
  }
  return results;
}

/** Rows of arm, median rps, every run, ratio to the first arm and cost per request against it (µs, from 1 / rps). */
export function comparedRows(arms: readonly GatewayArm[], results: ReadonlyMap<string, WrkResult[]>): string[][] {
  const baseline = median(results.get(arms[0]!.name)!.map((r) => r.rps));
  return arms.map((arm, i) => {
    const runs = results.get(arm.name)!;
    const rps = median(runs.map((r) => r.rps));
    return [
      arm.name,
      Math.round(rps).toLocaleString("en"),
      runs.map((r) => Math.round(r.rps).toLocaleString("en")).join(" / "),
      `${(rps / baseline).toFixed(2)}×`,
      i === 0 ? "" : `${(1e6 / rps - 1e6 / baseline).toFixed(2)} µs`,
    ];
  });
}

/** How fixed-rate runs are made: the rate and connections of autocannon, and the rounds. */
export interface FixedRate extends Rounds {
  /** Requests per second over all connections (autocannon `-R`). */
  readonly rate: number;
  readonly connections: number;
}

/**
 * Runs every arm once per round at a fixed rate below the knee (autocannon on Node, pinned like
 * wrk), in the round's order (`roundOrder`); every run by arm name, in round order. What an arm adds to latency is read here: in a closed
 * loop (`alternateArms`) every connection always has a request waiting, so p50 there is the
 * throughput seen from one connection, not the time a feature adds to one request.
 * A non-2xx answer, an error or a rate the arm could not keep (below 95 %) stops the scenario.
 */
export async function alternateFixedRate(bench: Bench, arms: readonly GatewayArm[], options: FixedRate): Promise<Map<string, AutocannonResult[]>> {
  const { rounds, duration, warmup, tag, rate, connections } = options;
  const results = new Map<string, AutocannonResult[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const arm of roundOrder(arms, round)) {
      if (arm.headers?.length) throw new Error(`${arm.name}: fixed-rate arms send no extra headers`);
      const plan = await gatewayPlan(bench, "bun", arm.configFile);
      Object.assign(plan.env!, arm.env ?? {});
      const server = await startArm(bench, plan, HELLO_BODY);
      try {
        const result = await runAutocannon(bench, { url: `${plan.url}${arm.path ?? ""}`, rate, connections, seconds: duration, warmup });
        await assertAlive(server, `round ${round}`);
        if (result.non2xx || result.errors) throw new Error(`${arm.name}: ${result.non2xx} non-2xx, ${result.errors} errors at ${rate} rps`);
        if (result.rps < rate * 0.95) throw new Error(`${arm.name}: kept only ${Math.round(result.rps)} of ${rate} rps; lower --rate`);
        results.set(arm.name, [...(results.get(arm.name) ?? []), result]);
        process.stderr.write(`[${tag}] round ${round} ${arm.name} at ${rate} rps: p50 ${Math.round(result.p50us)} µs\n`);
      } finally {
        await server?.stop();
        await sleep(300);
      }
    }
  }
  return results;
}

/** Rows of arm, median p50 and p99 at the fixed rate, every run's p50, and the p50 and p99 added over the first arm. */
export function latencyRows(arms: readonly GatewayArm[], results: ReadonlyMap<string, AutocannonResult[]>): string[][] {
  const p50 = (name: string) => median(results.get(name)!.map((r) => r.p50us));
  const p99 = (name: string) => median(results.get(name)!.map((r) => r.p99us));
  const first = arms[0]!.name;
  return arms.map((arm, i) => [
    arm.name,
    `${Math.round(p50(arm.name))} µs`,
    `${Math.round(p99(arm.name))} µs`,
    results.get(arm.name)!.map((r) => `${Math.round(r.p50us)}`).join(" / "),
    i === 0 ? "" : `${Math.round(p50(arm.name) - p50(first))} µs`,
    i === 0 ? "" : `${Math.round(p99(arm.name) - p99(first))} µs`,
  ]);
}

/** Header of `pairedRows`' table. */
export const PAIRED_HEADER = ["arm", "throughput, paired", "gateway CPU per request, paired", "added per request (CPU), paired"];

/**
 * Each arm against the first, paired by round (median over rounds of the ratio within a round):
 * throughput, the change in the gateway's CPU time per request, and that change in µs.
 */
export function pairedRows(arms: readonly GatewayArm[], results: ReadonlyMap<string, ArmRun[]>): string[][] {
  const base = results.get(arms[0]!.name)!;
  return arms.slice(1).map((arm) => {
    const runs = results.get(arm.name)!;
    const cpu = pairedRatio(base, runs, (r) => r.cpuUsPerRequest);
    const added = pairedDifference(base, runs, (r) => r.cpuUsPerRequest);
    return [
      arm.name,
      `${pairedRatio(base, runs, (r) => r.rps).toFixed(3)}×`,
      Number.isFinite(cpu) ? `${((cpu - 1) * 100).toFixed(1)} %` : "–",
      Number.isFinite(added) ? `${added.toFixed(1)} µs` : "–",
    ];
  });
}

/** Header of `pairedLatencyRows`' table. */
export const PAIRED_LATENCY_HEADER = ["arm", "added p50, paired", "added p99, paired"];

/** Each fixed-rate arm's p50 and p99 minus the first arm's in the same round, median over rounds. */
export function pairedLatencyRows(arms: readonly GatewayArm[], results: ReadonlyMap<string, AutocannonResult[]>): string[][] {
  const base = results.get(arms[0]!.name)!;
  return arms.slice(1).map((arm) => {
    const runs = results.get(arm.name)!;
    return [
      arm.name,
      `${Math.round(pairedDifference(base, runs, (r) => r.p50us))} µs`,
      `${Math.round(pairedDifference(base, runs, (r) => r.p99us))} µs`,
    ];
  });
}
