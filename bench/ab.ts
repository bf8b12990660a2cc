#!/usr/bin/env bun
/**
 * Alternating A/B of the hot path: `bun bench/ab.ts --base REF [--runtimes bun,deno,node]
 * [--rounds 3] [--duration 8] [--warmup 2] [--policies] [--header "Name: value" ...]`.
 *
 * Checks out REF (a commit, tag or branch) into a temporary worktree that shares this checkout's
 * node_modules and builds its policies, then measures a gateway from REF ("base") and one from
 * this checkout ("head") on each runtime in turn, alternating base and head `--rounds` times, with
 * the same upstream, configuration, pinning and `wrk -t1 -c32` load as `bench/throughput.ts`. The
 * access log is on, as shipped (JSON lines to a file). Alternating in one run is what makes the
 * comparison fair on a machine whose speed drifts: each round puts base and head side by side, base
 * first in odd rounds and head first in even ones (the second run of a pair tends to be faster).
 * Prints every run, the medians, the gateway's CPU time per request, and head/base per runtime twice:
 * of the medians, and paired by round (the median of each round's head/base), which is the steadier
 * figure where the machine's speed jumps between runs. `--header` (repeatable) adds a request header
 * to wrk's requests, which otherwise carry only `Host`: a client's usual headers cost a gateway
 * more than that one. Asserts nothing.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type ArmRun, cpuUs } from "./lib/alternate.ts";
import { assertAlive, gatewayPlan, type Runtime, RUNTIMES, startArm } from "./lib/arms.ts";
import { benchHeader, openBench, policyChainConfig, ROOT } from "./lib/context.ts";
import { sleep, wholeNumber } from "./lib/options.ts";
import { atExit, installCleanup, runMain, stopAll } from "./lib/procs.ts";
import { median, table } from "./lib/report.ts";
import { runWrk } from "./lib/wrk.ts";
import { HELLO_BODY } from "./upstream.ts";

const USAGE = 'bun bench/ab.ts --base REF [--runtimes bun,deno,node] [--rounds 3] [--duration 8] [--warmup 2] [--policies] [--header "Name: value" ...]';

/** A checkout of `ref` in `dir`, sharing node_modules, with its policies built. */
function checkout(ref: string, dir: string, bun: string): string {
  const commit = execFileSync("git", ["rev-parse", "--short", ref], { cwd: ROOT, encoding: "utf8" }).trim();
  execFileSync("git", ["worktree", "add", "--detach", dir, commit], { cwd: ROOT, stdio: "ignore" });
  atExit(() => execFileSync("git", ["worktree", "remove", "--force", dir], { cwd: ROOT, stdio: "ignore" }));
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  // The built-ins of that commit (the ABI may differ). The C and Rust examples are not needed here,
  // so a machine without their compilers still gets the built-ins, which are checked instead.
  try {
    execFileSync(bun, ["policies-wasm/build.ts"], { cwd: dir, stdio: "ignore" });
  } catch {
    if (!existsSync(join(dir, "policies-wasm/dist/builtins/set-header.wasm"))) throw new Error(`cannot build the policies of ${commit}`);
  }
  return commit;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      base: { type: "string" },
      runtimes: { type: "string", default: RUNTIMES.join(",") },
      rounds: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      policies: { type: "boolean", default: false },
      header: { type: "string", multiple: true, default: [] },
    },
  });
  if (!values.base) {
    process.stderr.write(`usage: ${USAGE}\n`);
    return 2;
  }
  const runtimes = values.runtimes.split(",").map((r) => r.trim()) as Runtime[];
  for (const r of runtimes) if (!RUNTIMES.includes(r)) throw new Error(`--runtimes: unknown runtime ${JSON.stringify(r)}`);
  const rounds = wholeNumber("rounds", values.rounds, 1) ?? 3;
  const duration = wholeNumber("duration", values.duration, 1) ?? 8;
  const warmup = wholeNumber("warmup", values.warmup, 0) ?? 2;
  installCleanup();
  const bench = await openBench({ nginx: false });
  const baseDir = join(bench.dir, "base");
  const baseCommit = checkout(values.base, baseDir, bench.bun);
  const headCommit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
  const dirty = execFileSync("git", ["status", "--porcelain"], { cwd: ROOT, encoding: "utf8" }).trim() ? " + uncommitted changes" : "";
  const configFile = join(bench.dir, "ab.yaml");
  writeFileSync(configFile, values.policies ? policyChainConfig(bench.upstreamPort) : readFileSync(bench.configFile, "utf8"));
  const results = new Map<string, ArmRun[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const runtime of runtimes) {
      const sides = [["base", baseDir], ["head", ROOT]] as const;
      for (const [side, cwd] of round % 2 === 1 ? sides : [...sides].reverse()) {
        const plan = { ...(await gatewayPlan(bench, runtime, configFile)), cwd };
        // As shipped: the JSON access log on, written to a file (the process's stdout).
        plan.env!.PORTICO_TELEMETRY_LOGS_STD = "json";
        const server = await startArm(bench, plan, HELLO_BODY);
        try {
          const load = { wrk: bench.wrk, url: plan.url, connections: 32, threads: 1, pin: bench.loadPin, headers: values.header };
          if (warmup) await runWrk({ ...load, seconds: warmup });
          const cpuBefore = cpuUs(server?.pid);
          const measured = await runWrk({ ...load, seconds: duration });
          const result: ArmRun = { ...measured, cpuUsPerRequest: (cpuUs(server?.pid) - cpuBefore) / measured.requests };
          await assertAlive(server, `round ${round}`);
          const key = `${runtime} ${side}`;
          results.set(key, [...(results.get(key) ?? []), result]);
          process.stderr.write(
            `[ab] round ${round} ${key}: ${Math.round(result.rps)} rps, ${result.cpuUsPerRequest.toFixed(1)} µs CPU per request${
              result.non2xx + result.socketErrors ? ` (${result.non2xx} non-2xx, ${result.socketErrors} socket errors)` : ""
            }\n`,
          );
        } finally {
          await server?.stop();
          await sleep(300);
        }
      }
    }
  }
  // Each round's head against the same round's base, then the median of those ratios.
  const paired = (base: ArmRun[], head: ArmRun[], of: (r: ArmRun) => number) => median(head.map((h, i) => of(h) / of(base[i]!)));
  const rows = runtimes.flatMap((runtime) => {
    const base = results.get(`${runtime} base`)!;
    const head = results.get(`${runtime} head`)!;
    const b = median(base.map((r) => r.rps));
    const h = median(head.map((r) => r.rps));
    const row = (side: string, runs: ArmRun[], ratios: string[]) => [
      runtime,
      side,
      Math.round(median(runs.map((r) => r.rps))).toLocaleString("en"),
      `${(median(runs.map((r) => r.p50us)) / 1000).toFixed(2)} ms`,
      `${(median(runs.map((r) => r.p99us)) / 1000).toFixed(2)} ms`,
      `${median(runs.map((r) => r.cpuUsPerRequest)).toFixed(1)} µs`,
      runs.map((r) => Math.round(r.rps).toLocaleString("en")).join(" / "),
      String(runs.reduce((n, r) => n + r.non2xx + r.socketErrors, 0)),
      ...ratios,
    ];
    return [
      row(`base ${baseCommit}`, base, ["", "", ""]),
      row(`head ${headCommit}${dirty}`, head, [
        `${(h / b).toFixed(2)}×`,
        `${paired(base, head, (r) => r.rps).toFixed(3)}×`,
        `${((paired(base, head, (r) => r.cpuUsPerRequest) - 1) * 100).toFixed(1)} %`,
      ]),
    ];
  });
  process.stdout.write(
    [
      `## A/B: ${baseCommit} against ${headCommit}${dirty}${values.policies ? ", 5 set-header policies" : ", no policies"}`,
      "",
      ...benchHeader(bench),
      `- command: \`bun bench/ab.ts --base ${values.base} --runtimes ${runtimes.join(",")} --rounds ${rounds} --duration ${duration} --warmup ${warmup}${
        values.policies ? " --policies" : ""
      }${values.header.map((h) => ` --header '${h}'`).join("")}\``,
      `- load: \`wrk -t1 -c32 -d${duration}s --latency\` after ${warmup} s of warm-up, base and head alternating in each round (base first in odd rounds); JSON access log on`,
      "",
      table([
        "runtime",
        "side",
        "rps (median)",
        "p50",
        "p99",
        "gateway CPU per request",
        "runs (rps, in round order)",
        "errors",
        "head / base (medians)",
        "head / base (paired by round)",
        "CPU per request (paired)",
      ], rows),
      "",
    ].join("\n"),
  );
  await stopAll();
  return 0;
}

runMain(main);
