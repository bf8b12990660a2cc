#!/usr/bin/env bun
/**
 * Memory over a long fixed-rate load on Bun: `bun bench/soak.ts [--minutes 10] [--rate 5000]
 * [--every 30]`.
 *
 * One gateway on Bun (pinned, JSON access log on as shipped) with the quickstart's shape: an API
 * with a `set-header` policy on each side, in front of the bench's upstream. Its RSS (`VmRSS`) is
 * read once it is ready, then every `--every` seconds while autocannon sends `--rate` requests per
 * second for `--minutes`, then once more 5 s after the load. Prints Markdown: each reading, the
 * growth from the first reading under load to the last, and what the load achieved. Asserts
 * nothing. Target (issue 16): no growth over 10 minutes at 5k rps; idle RSS ≤ 60 MB.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { assertAlive, gatewayPlan, startArm } from "./lib/arms.ts";
import { runAutocannon } from "./lib/autocannon.ts";
import { benchHeader, openBench } from "./lib/context.ts";
import { sleep, wholeNumber } from "./lib/options.ts";
import { installCleanup, runMain, stopAll } from "./lib/procs.ts";
import { table } from "./lib/report.ts";
import { HELLO_BODY } from "./upstream.ts";

/** The resident set size of process `pid` in MB (10⁶ bytes), NaN if unknown. */
function rssMb(pid: number | undefined): number {
  try {
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kib ? (Number(kib) * 1024) / 1e6 : NaN;
  } catch {
    return NaN;
  }
}

/** The quickstart's shape on the bench's upstream: one API with a header policy on each side, one for the readiness probe. */
function config(upstreamPort: number): string {
  return [
    "apis:",
    "  - name: soak",
    "    path: /s",
    "    backend: upstream",
    "    policies:",
    "      inbound: [ { policy: set-header, with: { name: x-request-source, value: portico-soak } } ]",
    "      outbound: [ { policy: set-header, with: { name: x-served-by, value: portico } } ]",
    "  - { name: ready, path: /, backend: upstream }",
    "backends:",
    `  upstream: { urls: ["http://127.0.0.1:${upstreamPort}"], timeout: 30s }`,
    "",
  ].join("\n");
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { minutes: { type: "string" }, rate: { type: "string" }, every: { type: "string" } } });
  const minutes = wholeNumber("minutes", values.minutes, 1) ?? 10;
  const rate = wholeNumber("rate", values.rate, 1) ?? 5000;
  const every = wholeNumber("every", values.every, 1) ?? 30;
  installCleanup();
  const bench = await openBench({ nginx: false });
  const file = join(bench.dir, "soak.yaml");
  writeFileSync(file, config(bench.upstreamPort));
  const plan = await gatewayPlan(bench, "bun", file);
  Object.assign(plan.env!, { PORTICO_TELEMETRY_LOGS_STD: "json" });
  const server = await startArm(bench, plan, HELLO_BODY);
  const pid = server?.pid;
  await sleep(2000);
  const readings: [string, number][] = [["idle, 2 s after ready", rssMb(pid)]];
  const started = Date.now();
  const sampler = setInterval(() => {
    readings.push([`${Math.round((Date.now() - started) / 1000)} s under load`, rssMb(pid)]);
  }, every * 1000);
  let load;
  try {
    load = await runAutocannon(bench, { url: `${plan.url}s/`, rate, connections: 50, seconds: minutes * 60, warmup: 0 });
  } finally {
    clearInterval(sampler);
  }
  await assertAlive(server, "the soak");
  await sleep(5000);
  readings.push(["5 s after the load", rssMb(pid)]);
  const underLoad = readings.filter(([label]) => label.endsWith("under load"));
  const first = underLoad[0]?.[1] ?? NaN;
  const last = underLoad.at(-1)?.[1] ?? NaN;
  process.stdout.write(
    [
      `## Soak: RSS of the Bun gateway over ${minutes} min at ${rate.toLocaleString("en")} rps`,
      "",
      ...benchHeader(bench),
      `- command: \`bun bench/soak.ts --minutes ${minutes} --rate ${rate} --every ${every}\``,
      `- load: autocannon \`-R ${rate} -c 50\` for ${minutes * 60} s: ${Math.round(load.rps).toLocaleString("en")} rps achieved, p50 ${
        Math.round(load.p50us)
      } µs, p99 ${Math.round(load.p99us)} µs, ${load.non2xx} non-2xx, ${load.errors} errors`,
      "",
      table(["when", "RSS"], readings.map(([label, mb]) => [label, `${mb.toFixed(1)} MB`])),
      "",
      `Growth from the first reading under load to the last: ${(last - first).toFixed(1)} MB (${(((last - first) / first) * 100).toFixed(1)} %).`,
      "",
    ].join("\n"),
  );
  await server?.stop();
  await stopAll();
  return 0;
}

runMain(main);
