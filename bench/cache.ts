#!/usr/bin/env bun
/**
 * What the response cache saves on Bun: `bun bench/cache.ts [--rounds 3] [--duration 8]
 * [--warmup 2] [--rate 2000]`.
 *
 * One API through a gateway on Bun (pinned, JSON access log on as shipped), three arms alternating:
 * "backend" (no cache policies: every request calls the backend), "internal hit" (`cache-lookup`
 * and `cache-store` with `caching-type: internal`, every measured request answered from the
 * gateway's memory) and "redis hit" (`caching-type: external`, answered from a local redis-server
 * on the load generator's CPU). The backend is the bench's hello-world upstream on loopback, the
 * cheapest backend call there is, so a hit that beats it beats any real one. Prints Markdown: the
 * closed-loop throughput (`wrk -t1 -c32`) and the gateway's CPU per request, then p50 and p99 at
 * a fixed `--rate` (autocannon, 10 connections). Asserts nothing. Target (issue 15): the hit path
 * faster than the backend call it saves.
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

/** One API on /c (with the cache policies of `cachingType`, or none), and one on / for the bench's readiness probe. */
function config(upstreamPort: number, cachingType: "internal" | "external" | undefined): string {
  const policies = cachingType
    ? `    policies: { inbound: [ { policy: cache-lookup, with: { vary-by-developer: false, vary-by-developer-groups: false, caching-type: ${cachingType} } } ], outbound: [ { policy: cache-store, with: { duration: 3600 } } ] }`
    : undefined;
  return [
    "apis:",
    "  - name: bench",
    "    path: /c",
    "    backend: upstream",
    ...(policies ? [policies] : []),
    "  - { name: ready, path: /, backend: upstream }",
    "backends:",
    `  upstream: { urls: ["http://127.0.0.1:${upstreamPort}"], timeout: 30s }`,
    "",
  ].join("\n");
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
  const files = { none: join(bench.dir, "backend.yaml"), internal: join(bench.dir, "internal.yaml"), external: join(bench.dir, "external.yaml") };
  writeFileSync(files.none, config(bench.upstreamPort, undefined));
  writeFileSync(files.internal, config(bench.upstreamPort, "internal"));
  writeFileSync(files.external, config(bench.upstreamPort, "external"));
  const env = { PORTICO_TELEMETRY_LOGS_STD: "json" };
  const arms: GatewayArm[] = [
    { name: "backend", configFile: files.none, env, path: "c/" },
    { name: "internal hit", configFile: files.internal, env, path: "c/" },
    { name: "redis hit", configFile: files.external, env: { ...env, PORTICO_CACHE_REDIS_URL: redis.url }, path: "c/" },
  ];
  const results = await alternateArms(bench, arms, { rounds, duration, warmup, tag: "cache" });
  const cpu = (name: string) => median(results.get(name)!.map((r) => r.cpuUsPerRequest));
  const fixed = await alternateFixedRate(bench, arms, { rounds, duration, warmup, tag: "cache", rate, connections: 10 });
  process.stdout.write(
    [
      "## Response cache: a hit against the backend call it saves (Bun)",
      "",
      ...benchHeader(bench),
      `- command: \`bun bench/cache.ts --rounds ${rounds} --duration ${duration} --warmup ${warmup} --rate ${rate}\``,
      "",
      `### Closed loop (\`wrk -t1 -c32 -d${duration}s\`, arms alternating, JSON access log on)`,
      "",
      table(["arm", "rps (median)", "runs", "vs backend", "cost per request"], comparedRows(arms, results)),
      "",
      table(PAIRED_HEADER, pairedRows(arms, results)),
      "",
      table(["arm", "gateway CPU per request"], arms.map((arm) => [arm.name, `${cpu(arm.name).toFixed(1)} µs`])),
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
  return 0;
}

runMain(main);
