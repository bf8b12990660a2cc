#!/usr/bin/env bun
/**
 * What a resilient backend costs per request on Bun: `bun bench/resilience.ts [--rounds 5]
 * [--duration 8] [--warmup 2]`.
 *
 * The same upstream behind a gateway on Bun (pinned, `wrk -t1 -c32`, JSON access log on as shipped),
 * arms alternating round after round: "single URL" (one plain URL, today's path), and "pool, health,
 * breaker": two members with weights (both the bench's upstream, under two base paths), active
 * health checks every 5 s, passive ejection and a circuit breaker with a count rule
 * (docs/backends.md, docs/resilience.md). Nothing fails during the run, so the figures are the cost
 * of the bookkeeping on every request: member choice, outcome reporting, breaker windows.
 * Prints Markdown: throughput, its ratio to the single URL, and the gateway's CPU per request.
 * Asserts nothing. Target (issue 18): ≤ 3 % against the single URL.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { alternateArms, comparedRows, type GatewayArm } from "./lib/alternate.ts";
import { benchHeader, openBench } from "./lib/context.ts";
import { wholeNumber } from "./lib/options.ts";
import { installCleanup, runMain, stopAll } from "./lib/procs.ts";
import { median, table } from "./lib/report.ts";

/** One API on /r to `backend`, one on / for the bench's readiness probe, and the two backends. */
function config(upstreamPort: number, resilient: boolean): string {
  const origin = `http://127.0.0.1:${upstreamPort}`;
  const backend = resilient
    ? [
      "  upstream:",
      `    urls: [{ url: "${origin}/a", weight: 2 }, { url: "${origin}/b", weight: 1 }]`,
      "    timeout: 30s",
      "    health: { path: /, interval: 5s, timeout: 1s }",
      "    passive: { consecutive-failures: 5, ejection: 30s }",
      "    circuitBreaker:",
      "      rules:",
      "        - { name: errors, failureCondition: { count: 50, interval: PT10S, statusCodeRanges: [{ min: 500, max: 599 }], errorReasons: [connection-error, timeout] }, tripDuration: PT10S }",
    ]
    : [`  upstream: { urls: ["${origin}"], timeout: 30s }`];
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
  const rounds = wholeNumber("rounds", values.rounds, 1) ?? 5;
  const duration = wholeNumber("duration", values.duration, 1) ?? 8;
  const warmup = wholeNumber("warmup", values.warmup, 0) ?? 2;
  installCleanup();
  const bench = await openBench({ nginx: false });
  const files = { single: join(bench.dir, "single.yaml"), resilient: join(bench.dir, "resilient.yaml") };
  writeFileSync(files.single, config(bench.upstreamPort, false));
  writeFileSync(files.resilient, config(bench.upstreamPort, true));
  const env = { PORTICO_TELEMETRY_LOGS_STD: "json" };
  const arms: GatewayArm[] = [
    { name: "single URL", configFile: files.single, env, path: "r/" },
    { name: "pool, health, breaker", configFile: files.resilient, env, path: "r/" },
  ];
  const results = await alternateArms(bench, arms, { rounds, duration, warmup, tag: "resilience" });
  const cpu = (name: string) => median(results.get(name)!.map((r) => r.cpuUsPerRequest));
  const base = cpu(arms[0]!.name);
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
      table(
        ["arm", "gateway CPU per request", "vs single URL"],
        arms.map((arm) => [arm.name, `${cpu(arm.name).toFixed(1)} µs`, `${((cpu(arm.name) / base - 1) * 100).toFixed(1)} %`]),
      ),
      "",
    ].join("\n"),
  );
  await stopAll();
  return 0;
}

runMain(main);
