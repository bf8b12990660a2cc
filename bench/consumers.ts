#!/usr/bin/env bun
/**
 * What knowing the caller costs per request on Bun: `bun bench/consumers.ts [--rounds 3]
 * [--duration 8] [--warmup 2]`.
 *
 * Two parts, in one run:
 * 1. In process: the subscription key check as the request path runs it (read the key from the
 *    header, look it up, pick the caller), for a repeated key (remembered) and a key seen for the
 *    first time (one HMAC-SHA256), in µs per call: the median of 9 batches after 3 warm-up batches.
 * 2. Through a gateway on Bun (pinned, `wrk -t1 -c32`, JSON access log on as shipped): one API with
 *    no policy and no key check ("none"), and the same API requiring a subscription key sent in the
 *    header ("key check"), alternating `--rounds` times. The cost per request is the difference of
 *    the median times per request (1 / rps), in µs.
 * Prints Markdown; asserts nothing. Targets (docs/design/performance.md): key check ≤ 2 µs.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { mustBuild, snapshotFromValue } from "../config/snapshot/build.ts";
import { presentedKey, SubscriptionKeys } from "../runtime/access/subscriptions.ts";
import { alternateArms, comparedRows, type GatewayArm } from "./lib/alternate.ts";
import { benchHeader, openBench } from "./lib/context.ts";
import { wholeNumber } from "./lib/options.ts";
import { installCleanup, runMain, stopAll } from "./lib/procs.ts";
import { median, table } from "./lib/report.ts";

const KEY = "bench-subscription-key-0123456789";
const BATCH = 100_000;

/** µs per call of `run`, median of 9 batches after 3 warm-up batches. */
function perCall(run: (i: number) => void): number {
  const samples: number[] = [];
  for (let b = 0; b < 12; b++) {
    const started = performance.now();
    for (let i = 0; i < BATCH; i++) run(i);
    if (b >= 3) samples.push(((performance.now() - started) * 1000) / BATCH);
  }
  return median(samples);
}

function inProcess(): string[][] {
  const snapshot = mustBuild(snapshotFromValue({
    apis: [{ name: "bench", path: "/", backend: "up", subscriptionRequired: true }],
    backends: { up: { urls: ["http://127.0.0.1:9"] } },
    subscriptions: [{ name: "bench", scope: "all-apis", primaryKey: KEY }],
  }));
  const api = snapshot.apis[0]!;
  const headers = new Headers({ "ocp-apim-subscription-key": KEY, accept: "*/*", "user-agent": "wrk" });
  let sink = 0;
  const keys = new SubscriptionKeys(snapshot);
  const checkRepeated = perCall(() => {
    const { key } = presentedKey(api, headers, "");
    sink += keys.check(api, key, Date.now()).subscription ? 1 : 0;
  });
  // A key never seen: a fresh table each time would measure construction, so look up keys that do not match (one HMAC each).
  const checkFirst = perCall((i) => {
    try {
      keys.check(api, `unknown-key-${i}-0123456789`, Date.now());
    } catch {
      sink += 1;
    }
  });
  if (sink < 0) console.log(sink);
  return [
    ["key check, repeated key (header read, remembered lookup, caller)", `${checkRepeated.toFixed(3)} µs`],
    ["key check, a key seen for the first time (one HMAC-SHA256)", `${checkFirst.toFixed(3)} µs`],
  ];
}

/** One API under load on /k, and one on / without a key that the bench's readiness probe calls. */
function config(upstreamPort: number, keyCheck: boolean): string {
  const api = keyCheck ? "{ name: bench, path: /k, backend: upstream, subscriptionRequired: true }" : "{ name: bench, path: /k, backend: upstream }";
  const subs = keyCheck ? `subscriptions:\n  - { name: bench, scope: all-apis, primaryKey: ${KEY} }\n` : "";
  return `apis:\n  - ${api}\n  - { name: ready, path: /, backend: upstream }\nbackends:\n  upstream: { urls: ["http://127.0.0.1:${upstreamPort}"], timeout: 30s }\n${subs}`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { rounds: { type: "string" }, duration: { type: "string" }, warmup: { type: "string" } } });
  const rounds = wholeNumber("rounds", values.rounds, 1) ?? 3;
  const duration = wholeNumber("duration", values.duration, 1) ?? 8;
  const warmup = wholeNumber("warmup", values.warmup, 0) ?? 2;
  const micro = inProcess();
  installCleanup();
  const bench = await openBench({ nginx: false });
  writeFileSync(join(bench.dir, "none.yaml"), config(bench.upstreamPort, false));
  writeFileSync(join(bench.dir, "key.yaml"), config(bench.upstreamPort, true));
  const arms: GatewayArm[] = [
    { name: "none", configFile: join(bench.dir, "none.yaml"), env: { PORTICO_TELEMETRY_LOGS_STD: "json" }, path: "k/" },
    {
      name: "key check",
      configFile: join(bench.dir, "key.yaml"),
      env: { PORTICO_TELEMETRY_LOGS_STD: "json" },
      path: "k/",
      headers: [`Ocp-Apim-Subscription-Key: ${KEY}`],
    },
  ];
  const results = await alternateArms(bench, arms, { rounds, duration, warmup, tag: "consumers" });
  const rows = comparedRows(arms, results);
  process.stdout.write(
    [
      "## Consumers: the cost of knowing the caller (Bun)",
      "",
      ...benchHeader(bench),
      `- command: \`bun bench/consumers.ts --rounds ${rounds} --duration ${duration} --warmup ${warmup}\``,
      "",
      "### In process",
      "",
      table(["what", "per call"], micro),
      "",
      `### Through the gateway (\`wrk -t1 -c32 -d${duration}s\`, arms alternating, JSON access log on)`,
      "",
      table(["arm", "rps (median)", "runs", "vs none", "cost per request"], rows),
      "",
    ].join("\n"),
  );
  await stopAll();
  return 0;
}

runMain(main);
