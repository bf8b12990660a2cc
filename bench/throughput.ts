#!/usr/bin/env bun
/**
 * Data-plane throughput: `bun bench/throughput.ts [--duration 10] [--runs 3] [--warmup 3] [--quick]
 * [--arms direct,nginx,bun-bare,bun,deno-bare,deno,node-bare,node,peer] [--path /] [--access-log]`.
 *
 * Starts a Bun.serve upstream, then one arm at a time (wrk straight to the upstream, nginx if
 * installed, each runtime's bare proxy (bench/bare.ts, its ceiling) next to a Portico gateway on
 * that runtime with no policies, and `@fastify/http-proxy` on Node as the JavaScript peer), warms it up and measures it with `wrk -t1 -c32`, several runs
 * each. The proxy under test is pinned to CPU 0, the upstream and wrk to CPU 1. Prints a Markdown
 * report: medians and ratios vs direct, nginx and the peer. See bench/README.md for the method.
 * `bench/run.ts` runs this scenario (with both bodies) next to the others.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ALL_ARMS, type ArmName, armPlan, assertAlive, type Runtime, RUNTIMES, startArm } from "./lib/arms.ts";
import { type Bench, benchHeader, openBench, policyChainConfig } from "./lib/context.ts";
import { wholeNumber } from "./lib/options.ts";
import { installCleanup, runMain, type Server, stopAll } from "./lib/procs.ts";
import { type ArmResult, markdownTable, medianRps } from "./lib/report.ts";
import type { Measure, ScenarioResult } from "./lib/targets.ts";
import { runWrk, type WrkResult } from "./lib/wrk.ts";
import { HELLO_BODY, KIB_BODY } from "./upstream.ts";
import { describeError } from "../config/schema/problems.ts";

const USAGE =
  "bun bench/throughput.ts [--duration 10] [--runs 3] [--warmup 3] [--quick] [--arms direct,nginx,bun-bare,bun,deno-bare,deno,node-bare,node,peer] [--path /|/1k] [--access-log]";

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
  /** Gateways write the JSON access log (the shipped default) to their stdout, a file; otherwise they log nothing. */
  readonly accessLog?: boolean;
}

/** How a path's body is named in reports. */
function bodyLabel(path: string): string {
  return path === "/" ? "hello world" : path === "/1k" ? "1 KiB" : path;
}

async function measure(bench: Bench, name: ArmName, opts: ThroughputOptions): Promise<ArmResult & { log?: string }> {
  const plan = await armPlan(bench, name, opts.path, opts.policies ? policyConfigFile(bench) : undefined);
  if (!plan) return { arm: name, runtime: bench.versions.nginx, runs: [], error: "nginx is not installed (see notes)" };
  const logging = opts.accessLog === true && RUNTIMES.includes(name as Runtime);
  if (logging) plan.env!.PORTICO_TELEMETRY_LOGS_STD = "json";
  const runs: WrkResult[] = [];
  const log = (line: string) => process.stderr.write(`[throughput ${bodyLabel(opts.path)}: ${name}] ${line}\n`);
  let server: Server | undefined;
  try {
    server = await startArm(bench, plan, opts.path === "/1k" ? KIB_BODY : HELLO_BODY);
    const load = { wrk: bench.wrk, url: plan.url, connections: 32, threads: 1, pin: bench.loadPin };
    if (opts.warmup > 0) {
      log(`warm-up ${opts.warmup}s`);
      await runWrk({ ...load, seconds: opts.warmup });
      await assertAlive(server, "warm-up");
    }
    for (let i = 1; i <= opts.runs; i++) {
      const result = await runWrk({ ...load, seconds: opts.duration });
      await assertAlive(server, `run ${i}`);
      runs.push(result);
      const errors = result.non2xx + result.socketErrors ? ` (${result.non2xx} non-2xx, ${result.socketErrors} socket errors)` : "";
      log(`run ${i}/${opts.runs}: ${Math.round(result.rps)} rps${errors}`);
    }
    await new Promise((r) => setTimeout(r, 300)); // a crash as wrk closes its connections shows up here
    await assertAlive(server, "the end of the last run");
    // What a gateway printed is worth a note unless it is its access log.
    return { arm: name, runtime: plan.runtime, runs, log: logging ? undefined : server?.logTail(10) || undefined };
  } catch (error) {
    let message = describeError(error);
    if (server?.hasExited() && !message.startsWith(`${name} exited`)) {
      message = `${name} exited (${await server.exited}): ${server.errorLine()}\n${server.logTail()}\n(then: ${message})`;
    }
    log(`failed: ${message}`);
    return { arm: name, runtime: plan.runtime, runs, error: message };
  } finally {
    await server?.stop();
  }
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
    for (const runtime of RUNTIMES) {
      const ratio = rps(runtime) / rps(`${runtime}-bare`);
      const goal = runtime === "node" ? 0.8 : 0.85;
      if (Number.isFinite(ratio)) out.push({ target: `bare-${runtime}`, value: `${ratio.toFixed(2)}× bare`, met: ratio >= goal });
    }
  }
  const peer = rps("peer");
  for (const runtime of RUNTIMES) {
    const ratio = rps(runtime) / peer;
    if (Number.isFinite(ratio)) out.push({ target: `peer-${runtime}`, value: `${label}: ${ratio.toFixed(2)}×`, met: ratio >= 3 });
  }
  return out;
}

/** Runs the throughput scenario on `bench`: each arm in turn, then the table and its measures. */
export async function throughputScenario(bench: Bench, opts: ThroughputOptions): Promise<ScenarioResult> {
  const results: (ArmResult & { log?: string })[] = [];
  const notes: string[] = [];
  for (const name of opts.arms) {
    const result = await measure(bench, name, opts);
    if (result.log) notes.push(`${name} printed while running (last lines):\n\n\`\`\`\n${result.log}\n\`\`\``);
    if (result.error?.includes("\n")) notes.push(`${name} failed:\n\n\`\`\`\n${result.error}\n\`\`\``);
    results.push(result);
  }
  const markdown = [
    `### Throughput, ${bodyLabel(opts.path)} body, ${
      opts.policies ? "5 WebAssembly policies (set-header ×5: 3 inbound, 2 outbound) on the gateways" : "no policies"
    }, ${opts.accessLog ? "the gateways' JSON access log on (to a file)" : "access log off"}`,
    "",
    `Closed loop: \`wrk -t1 -c32 -d${opts.duration}s --latency http://127.0.0.1:PORT${opts.path}\`, ${opts.runs} run(s) per arm after ${opts.warmup}s warm-up; medians. "vs peer" is the ratio to \`@fastify/http-proxy\` on Node.`,
    "",
    markdownTable(results),
    ...(notes.length ? ["", "Notes:", "", ...notes.map((n) => `- ${n}`)] : []),
  ].join("\n");
  return {
    markdown,
    measures: measures(results, opts.path, opts.policies),
    failed: results.some((r) => r.error && r.error !== "nginx is not installed (see notes)"),
  };
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
      "access-log": { type: "boolean", default: false },
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
    accessLog: values["access-log"],
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
