#!/usr/bin/env bun
/**
 * What sharing a rate limit through Redis costs per request on Bun: `bun bench/redis.ts
 * [--rounds 3] [--duration 8] [--warmup 2] [--rate 2000]`.
 *
 * One API with `rate-limit-by-key` (a limit no run reaches, one key), through a gateway on Bun
 * (pinned, `wrk -t1 -c32`, JSON access log on as shipped): counted in the process ("in-process"),
 * counted in a local redis-server as shipped ("redis": a busy counter takes calls ahead,
 * `cache.redis.prefetch` 256, docs/shared-state.md) and with every call asking Redis ("redis-every-call":
 * `cache.redis.prefetch` 0, each on its own redis-server so that its scripts are counted apart),
 * alternating `--rounds` times.
 * Prints Markdown: the throughput ratio, the cost per request (difference of the median times per
 * request, 1 / rps), the added p50, the gateway's CPU time per request (closed-loop throughput also
 * falls with the added round trip while the CPU waits, so both are shown), and the Redis commands per
 * request counted by the server (the round trips: one script per counter); then the latency each
 * arm adds at a fixed `--rate` (autocannon, 10 connections, the same alternation), which is where
 * an added p50 means the time one request waits (in the closed loop it is throughput in disguise).
 * Each comparison is also given paired by round (bench/lib/alternate.ts). Asserts nothing. Targets
 * (issue 15): ≤ 15 % throughput, ≤ 150 µs added p50, one round trip per request.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  alternateArms,
  alternateFixedRate,
  comparedRows,
  type GatewayArm,
  latencyRows,
  PAIRED_HEADER,
  PAIRED_LATENCY_HEADER,
  pairedLatencyRows,
  pairedRows,
} from "./lib/alternate.ts";
import { benchHeader, openBench } from "./lib/context.ts";
import { wholeNumber } from "./lib/options.ts";
import { installCleanup, runMain, stopAll } from "./lib/procs.ts";
import { median, table } from "./lib/report.ts";
import { startRedisServer } from "../test/redis-server.ts";

/** One API under load on /k with the rate limit, and one on / without it that the bench's readiness probe calls. */
function config(upstreamPort: number): string {
  return [
    "apis:",
    "  - name: bench",
    "    path: /k",
    "    backend: upstream",
    '    policies: { inbound: [ { policy: rate-limit-by-key, with: { calls: 1000000000, renewal-period: 3600, counter-key: "bench" } } ] }',
    "  - { name: ready, path: /, backend: upstream }",
    "backends:",
    `  upstream: { urls: ["http://127.0.0.1:${upstreamPort}"], timeout: 30s }`,
    "",
  ].join("\n");
}

/** Script runs (EVALSHA and EVAL) the server has counted so far. */
function scriptCalls(info: string): number {
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) calls += Number(match[2]);
  return calls;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { rounds: { type: "string" }, duration: { type: "string" }, warmup: { type: "string" }, rate: { type: "string" } } });
  const rounds = wholeNumber("rounds", values.rounds, 1) ?? 3;
  const duration = wholeNumber("duration", values.duration, 1) ?? 8;
  const warmup = wholeNumber("warmup", values.warmup, 0) ?? 2;
  const rate = wholeNumber("rate", values.rate, 1) ?? 2000;
  installCleanup();
  const bench = await openBench({ nginx: false });
  // Redis shares the load generator's CPU, off the gateway's (as a Redis on another host would be).
  const redis = await startRedisServer({ pin: bench.loadPin });
  const everyCall = await startRedisServer({ pin: bench.loadPin });
  writeFileSync(join(bench.dir, "limit.yaml"), config(bench.upstreamPort));
  const arms: GatewayArm[] = [
    { name: "in-process", configFile: join(bench.dir, "limit.yaml"), env: { PORTICO_TELEMETRY_LOGS_STD: "json" }, path: "k/" },
    { name: "redis", configFile: join(bench.dir, "limit.yaml"), env: { PORTICO_TELEMETRY_LOGS_STD: "json", PORTICO_CACHE_REDIS_URL: redis.url }, path: "k/" },
    {
      name: "redis-every-call",
      configFile: join(bench.dir, "limit.yaml"),
      env: { PORTICO_TELEMETRY_LOGS_STD: "json", PORTICO_CACHE_REDIS_URL: everyCall.url, PORTICO_CACHE_REDIS_PREFETCH: "0" },
      path: "k/",
    },
  ];
  const results = await alternateArms(bench, arms, { rounds, duration, warmup, tag: "redis" });
  const rows = comparedRows(arms, results);
  const p50 = (name: string) => median(results.get(name)!.map((r) => r.p50us));
  const cpu = (name: string) => median(results.get(name)!.map((r) => r.cpuUsPerRequest));
  // Every request of the redis arm (warm-ups included) ran the script once per counter; wrk counts only the measured ones.
  const scripts = (server: typeof redis, arm: string) => {
    const measured = results.get(arm)!.reduce((sum, r) => sum + r.requests, 0);
    return `${scriptCalls(server.cli("info", "commandstats")).toLocaleString("en")} / ${measured.toLocaleString("en")}`;
  };
  const counted = [scripts(redis, "redis"), scripts(everyCall, "redis-every-call")];
  const fixed = await alternateFixedRate(bench, arms, { rounds, duration, warmup, tag: "redis", rate, connections: 10 });
  process.stdout.write(
    [
      "## Redis: the cost of a shared rate limit (Bun)",
      "",
      ...benchHeader(bench),
      `- command: \`bun bench/redis.ts --rounds ${rounds} --duration ${duration} --warmup ${warmup} --rate ${rate}\``,
      "",
      `### Through the gateway (\`wrk -t1 -c32 -d${duration}s\`, arms alternating, JSON access log on)`,
      "",
      table(["arm", "rps (median)", "runs", "vs in-process", "cost per request"], rows),
      "",
      table(PAIRED_HEADER, pairedRows(arms, results)),
      "",
      table(["what", "value"], [
        ["closed-loop p50, in-process", `${p50("in-process").toFixed(0)} µs`],
        ["closed-loop p50, redis", `${p50("redis").toFixed(0)} µs`],
        ["closed-loop p50, redis-every-call", `${p50("redis-every-call").toFixed(0)} µs`],
        ["gateway CPU per request, in-process", `${cpu("in-process").toFixed(1)} µs`],
        ...["redis", "redis-every-call"].map((arm) => [
          `gateway CPU per request, ${arm}`,
          `${cpu(arm).toFixed(1)} µs (${((cpu(arm) / cpu("in-process") - 1) * 100).toFixed(0)} % more)`,
        ]),
        ["Redis scripts run / measured requests, redis (warm-ups also ran scripts)", counted[0]!],
        ["Redis scripts run / measured requests, redis-every-call", counted[1]!],
      ]),
      "",
      `### At a fixed ${rate.toLocaleString("en")} rps (autocannon \`-R ${rate} -c 10\`, ${duration} s, arms alternating)`,
      "",
      table(["arm", "p50", "p99", "runs (p50, µs)", "added p50", "added p99"], latencyRows(arms, fixed)),
      "",
      table(PAIRED_LATENCY_HEADER, pairedLatencyRows(arms, fixed)),
      "",
    ].join("\n"),
  );
  await stopAll();
  await redis.stop();
  await everyCall.stop();
  return 0;
}

runMain(main);
