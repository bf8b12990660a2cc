/**
 * Arms of one Bun gateway under the same load, alternating round after round, and the table that
 * compares each arm with the first: the shape of the scenarios that price one feature per request
 * (bench/consumers.ts, bench/telemetry.ts). Alternating in one run keeps a drifting machine fair.
 */
import { assertAlive, gatewayPlan, startArm } from "./arms.ts";
import type { Bench } from "./context.ts";
import { sleep } from "./options.ts";
import { median } from "./report.ts";
import { runWrk, type WrkResult } from "./wrk.ts";
import { HELLO_BODY } from "../upstream.ts";
import { readFileSync } from "node:fs";

/** One measured run of an arm: wrk's figures and the gateway's CPU time per request. */
export interface ArmRun extends WrkResult {
  /** CPU time (user + system) the gateway process used during the run, per request, in µs; NaN where /proc is not readable. */
  readonly cpuUsPerRequest: number;
}

/** CPU time a process has used so far, in µs (Linux /proc, clock ticks of 10 ms); NaN when unreadable. */
function cpuUs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return NaN;
  }
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

/** Runs every arm once per round (`wrk -t1 -c32`, pinned), in order; every run by arm name. A non-2xx answer or a socket error stops the scenario. */
export async function alternateArms(bench: Bench, arms: readonly GatewayArm[], { rounds, duration, warmup, tag }: Rounds): Promise<Map<string, ArmRun[]>> {
  const results = new Map<string, ArmRun[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const arm of arms) {
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
