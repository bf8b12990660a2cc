#!/usr/bin/env bun
/**
 * What a resilient backend costs per request on Bun: `bun bench/resilience.ts [--rounds 10]
 * [--duration 5] [--warmup 1]`.
 *
 * The same upstream behind a gateway on Bun (pinned, `wrk -t1 -c32`, JSON access log on as shipped):
 * "single URL" (one plain URL, today's path) against "pool, health, breaker" (two members with
 * weights, both the bench's upstream under two base paths; active health checks every 5 s; passive
 * ejection; a circuit breaker with a count rule: docs/backends.md, docs/resilience.md). Nothing
 * fails during the run, so the figures are the cost of the bookkeeping on every request: member
 * choice, outcome reporting, breaker windows.
 *
 * Each round runs the arms in the order A B B A (single, resilient, resilient, single), and the
 * cost is the median over rounds of the resilient pair against the single pair, so that a drift
 * within a round (measured here at about 6 % between the first and the last run of a round with
 * identical arms) cancels out. The A/A line compares the two single-URL runs of each round: the
 * resolution of the measurement. Prints Markdown. Asserts nothing. Target (issue 18): ≤ 3 %.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { alternateArms, type ArmRun, comparedRows, type GatewayArm } from "./lib/alternate.ts";
import { benchHeader, openBench } from "./lib/context.ts";
import { wholeNumber } from "./lib/options.ts";
import { installCleanup, runMain, stopAll } from "./lib/procs.ts";
import { median, table } from "./lib/report.ts";

/** What the "upstream" backend has besides its URL: a pool of two members, health checks and passive ejection, a breaker. */
interface Features {
  readonly pool?: boolean;
  readonly health?: boolean;
  readonly breaker?: boolean;
}

/** One API on /r to the "upstream" backend with `features`, one on / for the bench's readiness probe, and the two backends. */
function config(upstreamPort: number, features: Features): string {
  const origin = `http://127.0.0.1:${upstreamPort}`;
  const backend = [
    "  upstream:",
    features.pool ? `    urls: [{ url: "${origin}/a", weight: 2 }, { url: "${origin}/b", weight: 1 }]` : `    urls: ["${origin}"]`,
    "    timeout: 30s",
    ...(features.health ? ["    health: { path: /, interval: 5s, timeout: 1s }", "    passive: { consecutive-failures: 5, ejection: 30s }"] : []),
    ...(features.breaker
      ? [
        "    circuitBreaker:",
        "      rules:",
        "        - { name: errors, failureCondition: { count: 50, interval: PT10S, statusCodeRanges: [{ min: 500, max: 599 }], errorReasons: [connection-error, timeout] }, tripDuration: PT10S }",
      ]
      : []),
  ];
  return [
    "apis:",
    "  - { name: bench, path: /r, backend: upstream }",
    "  - { name: ready, path: /, backend: plain }",
    "backends:",
    ...backend,
    `  plain: { urls: ["${origin}"], timeout: 30s }`,
    "",
  ].join("\n");
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { rounds: { type: "string" }, duration: { type: "string" }, warmup: { type: "string" } } });
  const rounds = wholeNumber("rounds", values.rounds, 1) ?? 10;
  const duration = wholeNumber("duration", values.duration, 1) ?? 5;
  const warmup = wholeNumber("warmup", values.warmup, 0) ?? 1;
  installCleanup();
  const bench = await openBench({ nginx: false });
  const variants: [string, Features][] = [
    ["single URL", {}],
    ["pool, health, breaker", { pool: true, health: true, breaker: true }],
    ["pool, health, breaker (2nd)", { pool: true, health: true, breaker: true }],
    ["single URL (2nd)", {}],
  ];
  const env = { PORTICO_TELEMETRY_LOGS_STD: "json" };
  const arms: GatewayArm[] = variants.map(([name, features], i) => {
    const configFile = join(bench.dir, `resilience-${i}.yaml`);
    writeFileSync(configFile, config(bench.upstreamPort, features));
    return { name, configFile, env, path: "r/" };
  });
  const results = await alternateArms(bench, arms, { rounds, duration, warmup, tag: "resilience" });
  const cpu = (name: string) => median(results.get(name)!.map((r) => r.cpuUsPerRequest));
  const runs = (i: number) => results.get(arms[i]!.name)!;
  // Per round: the two runs of the resilient arm against the two of the single URL (A B B A).
  const pairs = (read: (r: ArmRun) => number, top: [number, number], bottom: [number, number]) =>
    median(
      runs(0).map((_, round) => (read(runs(top[0])[round]!) + read(runs(top[1])[round]!)) / (read(runs(bottom[0])[round]!) + read(runs(bottom[1])[round]!))),
    );
  const rps = (r: ArmRun) => r.rps;
  const cpuOf = (r: ArmRun) => r.cpuUsPerRequest;
  const single = (read: (r: ArmRun) => number) => median(runs(0).map((r, round) => read(runs(3)[round]!) / read(r)));
  const rows = [
    ["pool, health, breaker against single URL", `${pairs(rps, [1, 2], [0, 3]).toFixed(3)}×`, `${((pairs(cpuOf, [1, 2], [0, 3]) - 1) * 100).toFixed(1)} %`],
    ["A/A: single URL (2nd) against single URL", `${single(rps).toFixed(3)}×`, `${((single(cpuOf) - 1) * 100).toFixed(1)} %`],
  ];
  process.stdout.write(
    [
      "## Backend resilience: a pool with health checks and a breaker against a single URL (Bun)",
      "",
      ...benchHeader(bench),
      `- command: \`bun bench/resilience.ts --rounds ${rounds} --duration ${duration} --warmup ${warmup}\``,
      "",
      `### \`wrk -t1 -c32 -d${duration}s\`, arms alternating, JSON access log on`,
      "",
      table(["arm", "rps (median)", "runs", "vs single URL", "cost per request"], comparedRows(arms, results)),
      "",
      table(["arm", "gateway CPU per request (median)"], arms.map((arm) => [arm.name, `${cpu(arm.name).toFixed(1)} µs`])),
      "",
      "Paired by round (A B B A; median over rounds):",
      "",
      table(["comparison", "throughput", "gateway CPU per request"], rows),
      "",
    ].join("\n"),
  );
  await stopAll();
  return 0;
}

runMain(main);
