/**
 * Start from a backup to the first served request (docs/design/performance.md, ≤ 300 ms): a gateway in
 * control-plane mode whose control plane refuses connections starts from a configuration backup
 * (format 2, with the base configuration and the bench's 3 built-in policies on its API). Timed
 * from spawning the process until the traffic port answers the upstream's body, polled every 2 ms.
 * Median of several starts per runtime. Run by bench/run.ts.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { parse } from "yaml";
import { BackupStore } from "../config/backup.ts";
import { createToken } from "../control-plane/tokens.ts";
import { contentHash } from "../config/load.ts";
import { type Runtime, RUNTIMES } from "./lib/arms.ts";
import { type Bench, ROOT } from "./lib/context.ts";
import { freePort, startServer } from "./lib/procs.ts";
import { median } from "./lib/report.ts";
import type { Measure, ScenarioResult } from "./lib/targets.ts";
import { HELLO_BODY } from "./upstream.ts";

/** How to run the start-from-backup scenario. */
export interface BackupStartOptions {
  readonly runs: number;
  readonly runtimes: readonly Runtime[];
}

/** The configuration in the backup: the bench API with three built-in policies, as a control plane would send it (JSON). */
function backupText(bench: Bench): string {
  const header = (name: string) => ({ policy: "set-header", with: { name, value: "bench" } });
  const config = parse(`apis:\n  - { name: bench, path: /, backend: upstream }\nbackends:\n  upstream: { urls: ["http://127.0.0.1:${bench.upstreamPort}"] }\n`);
  config.apis[0].policies = { inbound: [header("x-one"), header("x-two")], outbound: [header("x-three")] };
  return JSON.stringify(config);
}

async function startOnce(bench: Bench, runtime: Runtime, backupDir: string, token: string, deadEndpoint: string): Promise<number> {
  const port = await freePort();
  const cli = { bun: [bench.bun], deno: [bench.deno, "run", "-A"], node: [bench.node, "--import", "tsx"] }[runtime];
  const env = {
    ...process.env,
    PORTICO_CONFIG_SERVICE_ENDPOINT: deadEndpoint,
    PORTICO_CONFIG_SERVICE_AUTH: token,
    PORTICO_CONFIG_BACKUP_PATH: backupDir,
    PORTICO_NET_SERVER_HTTP_PORT: String(port),
    PORTICO_NET_SERVER_BIND_ADDRESS: "127.0.0.1",
    PORTICO_NET_MANAGEMENT_PORT: "0",
    PORTICO_TELEMETRY_LOGS_STD: "none",
  };
  const started = performance.now();
  const server = startServer(`backup-start-${runtime}`, [...bench.proxyPin, ...cli, "runtime/cli.ts", "gateway"], {
    cwd: ROOT,
    env,
    logFile: join(bench.dir, `backup-start-${runtime}-${port}.log`),
  });
  try {
    const deadline = started + 30_000;
    for (;;) {
      if (server.hasExited()) throw new Error(`${runtime} gateway exited: ${server.errorLine()}`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}/`);
        const body = await response.text();
        if (response.status === 200 && body === HELLO_BODY) return performance.now() - started;
      } catch {
        // not listening yet
      }
      if (performance.now() > deadline) throw new Error(`${runtime} gateway did not serve from its backup within 30 s: ${server.logTail()}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    await server.stop();
  }
}

/** Times starts from a backup on each runtime; the target applies to Bun. */
export async function backupStartScenario(bench: Bench, { runs, runtimes }: BackupStartOptions): Promise<ScenarioResult> {
  const backupDir = join(bench.dir, "backup-start");
  const text = backupText(bench);
  new BackupStore(backupDir).save({ text, hash: contentHash(text), revision: 1, gateway: "bench", modules: new Map() });
  const token = createToken({ gateway: "bench", key: "primary", generation: 1, expires: Date.now() + 86_400_000 }, { secret: randomBytes(32), generation: 1 });
  const deadEndpoint = `http://127.0.0.1:${await freePort()}`; // nothing listens: connection refused
  const lines = [
    "### Start from a backup to the first served request",
    "",
    `Control plane refusing connections; backup with one API and 3 built-in policies; ${runs} starts per runtime, median (min–max).`,
    "",
    "| runtime | first request served after |",
    "|---|---|",
  ];
  const measures: Measure[] = [];
  for (const runtime of runtimes.length ? runtimes : RUNTIMES) {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) times.push(await startOnce(bench, runtime, backupDir, token, deadEndpoint));
    const ms = median(times);
    lines.push(`| ${bench.versions[runtime]} | ${Math.round(ms)} ms (${Math.round(Math.min(...times))}–${Math.round(Math.max(...times))}) |`);
    if (runtime === "bun") measures.push({ target: "backup-start", value: `${Math.round(ms)} ms on Bun`, met: ms <= 300 });
  }
  return { markdown: lines.join("\n"), measures, failed: false };
}
