#!/usr/bin/env bun
/**
 * Data-plane throughput: `bun bench/throughput.ts [--duration 10] [--runs 3] [--warmup 3] [--quick]
 * [--arms direct,nginx,bun-bare,bun,deno-bare,deno,node-bare,node,peer] [--path /] [--access-log on|off]`.
 *
 * Starts a Bun.serve upstream, then runs the arms (wrk straight to the upstream, nginx if
 * installed, each runtime's bare proxy (bench/bare.ts, its ceiling) next to a Portico gateway on
 * that runtime with no policies and its JSON access log on, and `@fastify/http-proxy` on Node as
 * the JavaScript peer) in alternating rounds: each round starts every arm afresh, warms it up and
 * measures it once with `wrk -t1 -c32` (`--runs` rounds). The proxy under test is pinned to CPU 0,
 * the upstream and wrk to CPU 1. Prints a Markdown report: medians, ratios vs direct, nginx and the
 * peer, and each gateway against its runtime's bare proxy paired by round, in throughput and in CPU
 * time per request. See bench/README.md for the method.
 * `bench/run.ts` runs this scenario (with both bodies) next to the others.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ALL_ARMS, type ArmName, armPlan, assertAlive, type Runtime, RUNTIMES, startArm } from "./lib/arms.ts";
import { type Bench, benchHeader, openBench, policyChainConfig } from "./lib/context.ts";
import { wholeNumber } from "./lib/options.ts";
import { installCleanup, runMain, type Server, stopAll } from "./lib/procs.ts";
import { type ArmResult, markdownTable, type MeasuredRun, medianRps, pairedRatio } from "./lib/report.ts";
import type { Measure, ScenarioResult } from "./lib/targets.ts";
import { runWrk } from "./lib/wrk.ts";
import { roundOrder, treeCpuUs } from "./lib/alternate.ts";
import { HELLO_BODY, KIB_BODY } from "./upstream.ts";
import { describeError } from "../config/schema/problems.ts";

const USAGE =
  "bun bench/throughput.ts [--duration 10] [--runs 3] [--warmup 3] [--quick] [--arms direct,nginx,bun-bare,bun,deno-bare,deno,node-bare,node,peer] [--path /|/1k] [--access-log on|off]";

/** How to run the throughput scenario. */
export interface ThroughputOptions {
  /** Seconds per measured run (`wrk -dNs`). */
  readonly duration: number;
  readonly runs: number;
  /** Seconds of discarded load before the runs. */
  readonly warmup: number;
  readonly arms: readonly ArmName[];
  /** `/` (11-byte "hello world") or `/1k` (1 KiB). */
  readonly path: string;
  /** Gateways run a chain of 5 WebAssembly set-header policies (3 inbound, 2 outbound). */
  readonly policies?: boolean;
  /**
   * Gateways write the JSON access log (the shipped default) to their stdout, a file; with false
   * they log nothing. `bench/run.ts` keeps the default (on); nginx's access log is off either way.
   */
  readonly accessLog?: boolean;
}

/** How a path's body is named in reports. */
function bodyLabel(path: string): string {
  return path === "/" ? "hello world" : path === "/1k" ? "1 KiB" : path;
}

/** One arm's run in one round: started afresh, warmed up, measured once, stopped. */
interface RoundRun {
  readonly runtime: string;
  readonly run?: MeasuredRun;
  readonly error?: string;
  /** What the server printed (not its access log), for the notes. */
  readonly log?: string;
}

async function measureOnce(bench: Bench, name: ArmName, opts: ThroughputOptions, round: number): Promise<RoundRun> {
  const plan = await armPlan(bench, name, opts.path, opts.policies ? policyConfigFile(bench) : undefined);
  if (!plan) return { runtime: bench.versions.nginx, error: NO_NGINX };
  const logging = opts.accessLog !== false && RUNTIMES.includes(name as Runtime);
  if (logging) plan.env!.PORTICO_TELEMETRY_LOGS_STD = "json";
  const log = (line: string) => process.stderr.write(`[throughput ${bodyLabel(opts.path)}: ${name}] ${line}\n`);
  let server: Server | undefined;
  try {
    server = await startArm(bench, plan, opts.path === "/1k" ? KIB_BODY : HELLO_BODY);
    const load = { wrk: bench.wrk, url: plan.url, connections: 32, threads: 1, pin: bench.loadPin };
    if (opts.warmup > 0) {
      await runWrk({ ...load, seconds: opts.warmup });
      await assertAlive(server, `the warm-up of round ${round}`);
    }
    // The server's process and its children (nginx proxies in its worker).
    const cpuBefore = server ? treeCpuUs(server.pid) : NaN;
    const measured = await runWrk({ ...load, seconds: opts.duration });
    const run: MeasuredRun = { ...measured, cpuUsPerRequest: (treeCpuUs(server?.pid) - cpuBefore) / measured.requests };
    await assertAlive(server, `round ${round}`);
    const errors = run.non2xx + run.socketErrors ? ` (${run.non2xx} non-2xx, ${run.socketErrors} socket errors)` : "";
    log(`round ${round}/${opts.runs}: ${Math.round(run.rps)} rps${errors}`);
    await new Promise((r) => setTimeout(r, 300)); // a crash as wrk closes its connections shows up here
    await assertAlive(server, `the end of round ${round}`);
    // What a gateway printed is worth a note unless it is its access log.
    return { runtime: plan.runtime, run, log: logging ? undefined : server?.logTail(10) || undefined };
  } catch (error) {
    let message = describeError(error);
    if (server?.hasExited() && !message.startsWith(`${name} exited`)) {
      message = `${name} exited (${await server.exited}): ${server.errorLine()}\n${server.logTail()}\n(then: ${message})`;
    }
    log(`failed: ${message}`);
    return { runtime: plan.runtime, error: message };
  } finally {
    await server?.stop();
  }
}

/** Why the nginx arm has no runs when nginx is missing (not a failure of the scenario). */
const NO_NGINX = "nginx is not installed (see notes)";

/**
 * Every arm once per round, in the round's order (as given in odd rounds, reversed in even ones),
 * each started afresh: a machine that drifts during the scenario then moves a gateway and its
 * runtime's bare proxy alike, and the ratios between them are taken within each round. An arm
 * that fails is not run again.
 */
async function alternateRounds(bench: Bench, opts: ThroughputOptions): Promise<(ArmResult & { log?: string })[]> {
  const state = new Map<ArmName, { runtime: string; runs: MeasuredRun[]; error?: string; log?: string }>();
  for (let round = 1; round <= opts.runs; round++) {
    for (const name of roundOrder(opts.arms, round)) {
      const entry = state.get(name);
      if (entry?.error) continue;
      const result = await measureOnce(bench, name, opts, round);
      const runs = entry?.runs ?? [];
      if (result.run) runs.push(result.run);
      state.set(name, { runtime: result.runtime, runs, error: result.error, log: result.log ?? entry?.log });
    }
  }
  return opts.arms.map((name) => ({ arm: name, ...state.get(name)! }));
}

function policyConfigFile(bench: Bench): string {
  const file = join(bench.dir, "policies.yaml");
  if (!existsSync(file)) writeFileSync(file, policyChainConfig(bench.upstreamPort));
  return file;
}

function measures(results: readonly ArmResult[], path: string, policies = false): Measure[] {
  const label = bodyLabel(path);
  const rps = (arm: string) => medianRps(results.find((r) => r.arm === arm && r.runs.length));
  const out: Measure[] = [];
  const bun = rps("bun");
  const nginx = rps("nginx");
  const target = policies ? (path === "/" ? "wasm-nginx" : undefined) : path === "/" ? "bun-nginx-0" : path === "/1k" ? "bun-nginx-1k" : undefined;
  const goal = policies ? 0.6 : 0.8;
  if (target) {
    out.push(
      Number.isFinite(bun / nginx)
        ? { target, value: `${(bun / nginx).toFixed(2)}× nginx`, met: bun / nginx >= goal }
        : { target, value: "bun or nginx arm did not run", met: "n/a" },
    );
  }
  if (policies) return out;
  if (path === "/") {
    // Paired by round: a gateway against its runtime's bare proxy measured in the same round.
    const runsOf = (arm: string) => results.find((r) => r.arm === arm)?.runs ?? [];
    for (const runtime of RUNTIMES) {
      const ratio = pairedRatio(runsOf(`${runtime}-bare`), runsOf(runtime), (run) => run.rps);
      const goal = runtime === "node" ? 0.8 : 0.85;
      if (Number.isFinite(ratio)) out.push({ target: `bare-${runtime}`, value: `${ratio.toFixed(2)}× bare (paired)`, met: ratio >= goal });
    }
  }
  const peer = rps("peer");
  for (const runtime of RUNTIMES) {
    const ratio = rps(runtime) / peer;
    if (Number.isFinite(ratio)) out.push({ target: `peer-${runtime}`, value: `${label}: ${ratio.toFixed(2)}×`, met: ratio >= 3 });
  }
  return out;
}

/** Runs the throughput scenario on `bench`: the arms in alternating rounds, then the table and its measures. */
export async function throughputScenario(bench: Bench, opts: ThroughputOptions): Promise<ScenarioResult> {
  const results = await alternateRounds(bench, opts);
  const notes: string[] = [];
  for (const result of results) {
    if (result.log) notes.push(`${result.arm} printed while running (last lines):\n\n\`\`\`\n${result.log}\n\`\`\``);
    if (result.error?.includes("\n")) notes.push(`${result.arm} failed:\n\n\`\`\`\n${result.error}\n\`\`\``);
  }
  const markdown = [
    `### Throughput, ${bodyLabel(opts.path)} body, ${
      opts.policies ? "5 WebAssembly policies (set-header ×5: 3 inbound, 2 outbound) on the gateways" : "no policies"
    }, ${opts.accessLog !== false ? "the gateways' JSON access log on (the shipped default, to a file)" : "access log off"}`,
    "",
    `Closed loop: \`wrk -t1 -c32 -d${opts.duration}s --latency http://127.0.0.1:PORT${opts.path}\`, ${opts.runs} round(s): every arm once per round (reversed order in even rounds), started afresh and warmed up for ${opts.warmup}s; medians over rounds. "Paired" figures are the median over rounds of the ratio within a round. CPU per request is the server process's user + system time. "vs peer" is the ratio to \`@fastify/http-proxy\` on Node.${
      opts.accessLog !== false ? " nginx's access log is off and the bare proxies log nothing: the gateways do more than they do." : ""
    }`,
    "",
    markdownTable(results),
    ...(notes.length ? ["", "Notes:", "", ...notes.map((n) => `- ${n}`)] : []),
  ].join("\n");
  return {
    markdown,
    measures: measures(results, opts.path, opts.policies),
    failed: results.some((r) => r.error && r.error !== NO_NGINX),
  };
}

/** `on` or `off` as a boolean; anything else is a bad option. */
function onOff(name: string, value: string): boolean {
  if (value === "on" || value === "off") return value === "on";
  throw new Error(`--${name}: expected on or off, got ${JSON.stringify(value)}`);
}

function options(): ThroughputOptions {
  const { values } = parseArgs({
    options: {
      duration: { type: "string" },
      runs: { type: "string" },
      warmup: { type: "string" },
      quick: { type: "boolean", default: false },
      arms: { type: "string", default: ALL_ARMS.join(",") },
      path: { type: "string", default: "/" },
      "access-log": { type: "string", default: "on" },
    },
    strict: true,
  });
  const arms = values.arms.split(",").map((s) => s.trim()) as ArmName[];
  const unknown = arms.filter((a) => !ALL_ARMS.includes(a));
  if (unknown.length) throw new Error(`--arms: unknown ${unknown.join(", ")} (known: ${ALL_ARMS.join(", ")})`);
  return {
    duration: wholeNumber("duration", values.duration, 1) ?? (values.quick ? 2 : 10),
    runs: wholeNumber("runs", values.runs, 1) ?? 3,
    warmup: wholeNumber("warmup", values.warmup, 0) ?? (values.quick ? 1 : 3),
    arms,
    path: values.path,
    accessLog: onOff("access-log", values["access-log"]),
  };
}

async function main(): Promise<number> {
  installCleanup();
  let opts: ThroughputOptions;
  try {
    opts = options();
  } catch (error) {
    process.stderr.write(`bench: ${describeError(error)}\nusage: ${USAGE}\n`);
    return 2;
  }
  try {
    const bench = await openBench({ nginx: opts.arms.includes("nginx") });
    const result = await throughputScenario(bench, opts);
    const cmd = `bun bench/throughput.ts ${process.argv.slice(2).join(" ")}`.trim();
    const out = [
      `## Throughput, ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
      "",
      ...benchHeader(bench),
      `- command: \`${cmd}\``,
      ...bench.notes.map((n) => `- note: ${n}`),
      "",
      result.markdown,
    ];
    process.stdout.write(`${out.join("\n")}\n`);
    return result.failed ? 1 : 0;
  } finally {
    await stopAll();
  }
}

if (import.meta.main) {
  runMain(main);
}
