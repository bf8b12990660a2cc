#!/usr/bin/env bun
/**
 * Data-plane throughput: `bun bench/throughput.ts [--duration 10] [--runs 3] [--warmup 3] [--quick]
 * [--arms direct,nginx,bun,deno,node] [--path /]`.
 *
 * Starts a Bun.serve upstream, then one arm at a time (wrk straight to the upstream, nginx if
 * installed, and a Portico gateway on Bun, Deno and Node with no policies), warms it up and
 * measures it with `wrk -t1 -c32`, several runs each. The proxy under test is pinned to CPU 0,
 * the upstream and wrk to CPU 1. Prints a Markdown report: medians and ratios vs direct and nginx.
 * See bench/README.md for the method.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { nginxCommand } from "./lib/nginx.ts";
import { atExit, freePort, installCleanup, startServer, stopAll, waitForOk, type Server } from "./lib/procs.ts";
import { markdownTable, type ArmResult } from "./lib/report.ts";
import { ensureTool, firstLine, versionIn, which } from "./lib/tools.ts";
import { runWrk, type WrkResult } from "./lib/wrk.ts";
import { HELLO_BODY, KIB_BODY } from "./upstream.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ALL_ARMS = ["direct", "nginx", "bun", "deno", "node"] as const;
type ArmName = (typeof ALL_ARMS)[number];
const USAGE = "bun bench/throughput.ts [--duration 10] [--runs 3] [--warmup 3] [--quick] [--arms direct,nginx,bun,deno,node] [--path /|/1k]";

/** What an arm needs: a server to start (none for direct) and where to send load. */
interface ArmPlan {
  readonly runtime: string;
  readonly argv?: string[];
  readonly env?: NodeJS.ProcessEnv;
  /** URL that answers 200 once the server is ready. */
  readonly readyUrl?: string;
  readonly url: string;
}

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: "string" },
      runs: { type: "string" },
      warmup: { type: "string" },
      quick: { type: "boolean", default: false },
      arms: { type: "string", default: ALL_ARMS.join(",") },
      path: { type: "string", default: "/" },
    },
    strict: true,
  });
  const int = (name: string, raw: string | undefined, fallback: number, min: number) => {
    const n = raw === undefined ? fallback : Number(raw.replace(/s$/, ""));
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected a whole number ≥ ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const arms = values.arms.split(",").map((s) => s.trim()) as ArmName[];
  const unknown = arms.filter((a) => !ALL_ARMS.includes(a));
  if (unknown.length) throw new Error(`--arms: unknown ${unknown.join(", ")} (known: ${ALL_ARMS.join(", ")})`);
  return {
    duration: int("duration", values.duration, values.quick ? 2 : 10, 1),
    runs: int("runs", values.runs, 3, 1),
    warmup: int("warmup", values.warmup, values.quick ? 1 : 3, 0),
    quick: values.quick,
    arms,
    path: values.path,
  };
}

function machine(): string {
  const cpuinfo = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown CPU";
  const load = loadavg().map((n) => n.toFixed(2)).join(" ");
  return `${availableParallelism()} CPUs (${model}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, load average at start ${load}`;
}

async function measure(name: string, plan: ArmPlan, opts: ReturnType<typeof options>, wrk: string, loadPin: string[], expectBody: string, logDir: string): Promise<ArmResult & { log?: string }> {
  let server: Server | undefined;
  const runs: WrkResult[] = [];
  const log = (line: string) => process.stderr.write(`[${name}] ${line}\n`);
  try {
    if (plan.argv) {
      server = startServer(name, plan.argv, { cwd: ROOT, env: plan.env, logFile: join(logDir, `${name}.log`) });
      await waitForOk(plan.readyUrl!, 30_000, server);
    }
    const body = await waitForOk(plan.url, 10_000, server);
    if (body !== expectBody) throw new Error(`unexpected body from ${plan.url}: ${JSON.stringify(body.slice(0, 80))}`);
    const load = { wrk, url: plan.url, connections: 32, threads: 1, pin: loadPin };
    const alive = async (when: string) => {
      if (server?.hasExited()) throw new Error(`${name} exited (${await server.exited}) during ${when}: ${server.errorLine()}\n${server.logTail()}`);
    };
    if (opts.warmup > 0) {
      log(`warm-up ${opts.warmup}s`);
      await runWrk({ ...load, seconds: opts.warmup });
      await alive("warm-up");
    }
    for (let i = 1; i <= opts.runs; i++) {
      const result = await runWrk({ ...load, seconds: opts.duration });
      await alive(`run ${i}`);
      runs.push(result);
      const errors = result.non2xx + result.socketErrors ? ` (${result.non2xx} non-2xx, ${result.socketErrors} socket errors)` : "";
      log(`run ${i}/${opts.runs}: ${Math.round(result.rps)} rps${errors}`);
    }
    await new Promise((r) => setTimeout(r, 300)); // a crash as wrk closes its connections shows up here
    await alive("the end of the last run");
    return { arm: name, runtime: plan.runtime, runs, log: server?.logTail(10) || undefined };
  } catch (error) {
    let message = (error as Error).message;
    if (server?.hasExited() && !message.startsWith(`${name} exited`)) {
      message = `${name} exited (${await server.exited}): ${server.errorLine()}\n${server.logTail()}\n(then: ${message})`;
    }
    log(`failed: ${message}`);
    return { arm: name, runtime: plan.runtime, runs, error: message };
  } finally {
    await server?.stop();
  }
}

async function main(): Promise<number> {
  installCleanup();
  let opts: ReturnType<typeof options>;
  try {
    opts = options();
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\nusage: ${USAGE}\n`);
    return 2;
  }
  const notes: string[] = [];
  const wrk = ensureTool("wrk", "wrk", notes);
  if (!wrk) {
    process.stderr.write(`${notes.join("\n")}\n`);
    return 1;
  }
  const nginx = opts.arms.includes("nginx") ? ensureTool("nginx", "nginx-light", notes) : undefined;
  const taskset = which("taskset");
  const pinned = Boolean(taskset) && availableParallelism() >= 2;
  const proxyPin = pinned ? [taskset!, "-c", "0"] : [];
  const loadPin = pinned ? [taskset!, "-c", "1"] : [];
  if (!taskset) notes.push("taskset not found (Debian package util-linux): processes were not pinned to CPUs.");
  else if (!pinned) notes.push("fewer than 2 CPUs: processes were not pinned.");

  const bun = typeof Bun !== "undefined" ? process.execPath : join(ROOT, "node_modules/.bin/bun");
  const deno = existsSync(join(ROOT, "node_modules/.bin/deno")) ? join(ROOT, "node_modules/.bin/deno") : (which("deno") ?? "deno");
  const node = which("node") ?? "node";
  const versions = {
    bun: `Bun ${firstLine([bun, "--version"])}`,
    deno: `Deno ${versionIn(firstLine([deno, "--version"]))}`,
    node: `Node ${firstLine([node, "--version"]).replace(/^v/, "")}`,
    nginx: nginx ? `nginx ${versionIn(firstLine([nginx, "-v"]))}` : "nginx (not installed)",
    wrk: versionIn(firstLine([wrk, "-v"])),
  };

  const dir = mkdtempSync(join(tmpdir(), "portico-bench-"));
  atExit(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const upstreamPort = await freePort();
    const upstream = startServer("upstream", [...loadPin, bun, join(ROOT, "bench/upstream.ts"), String(upstreamPort)], { cwd: ROOT, logFile: join(dir, "upstream.log") });
    await waitForOk(`http://127.0.0.1:${upstreamPort}/`, 10_000, upstream);
    const configFile = join(dir, "portico.yaml");
    writeFileSync(configFile, `apis:\n  - { name: bench, path: /, backend: upstream }\nbackends:\n  upstream: { urls: ["http://127.0.0.1:${upstreamPort}"], timeout: 30s }\n`);

    const results: ArmResult[] = [];
    for (const name of opts.arms) {
      const port = await freePort();
      const url = (p: number) => `http://127.0.0.1:${p}${opts.path}`;
      let plan: ArmPlan;
      if (name === "direct") plan = { runtime: `${versions.bun} (upstream)`, url: url(upstreamPort) };
      else if (name === "nginx") {
        if (!nginx) continue;
        plan = { runtime: versions.nginx, argv: [...proxyPin, ...nginxCommand(nginx, join(dir, "nginx"), port, upstreamPort)], readyUrl: url(port), url: url(port) };
      } else {
        const mgmt = await freePort();
        const cli = { bun: [bun], deno: [deno, "run", "-A"], node: [node, "--import", "tsx"] }[name];
        const env = {
          ...process.env,
          PORTICO_NET_SERVER_HTTP_PORT: String(port),
          PORTICO_NET_SERVER_BIND_ADDRESS: "127.0.0.1",
          PORTICO_NET_MANAGEMENT_PORT: String(mgmt),
          PORTICO_NET_MANAGEMENT_BIND_ADDRESS: "127.0.0.1",
          PORTICO_TELEMETRY_LOGS_STD: "none",
          PORTICO_CONFIG_BACKUP_PATH: join(dir, `backup-${name}`),
        };
        const argv = [...proxyPin, ...cli, "runtime/cli.ts", "gateway", "--config", configFile];
        plan = { runtime: versions[name], argv, env, readyUrl: `http://127.0.0.1:${mgmt}/readyz`, url: url(port) };
      }
      const result = await measure(name, plan, opts, wrk, loadPin, opts.path === "/1k" ? KIB_BODY : HELLO_BODY, dir);
      if (result.log) notes.push(`${name} printed while running (last lines):\n\n\`\`\`\n${result.log}\n\`\`\``);
      if (result.error?.includes("\n")) notes.push(`${name} failed:\n\n\`\`\`\n${result.error}\n\`\`\``);
      results.push(result);
    }
    await upstream.stop();

    const cmd = `bun bench/throughput.ts ${process.argv.slice(2).join(" ")}`.trim();
    const out = [
      `## Throughput, ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
      "",
      `- machine: ${machine()}`,
      `- runtimes: ${[versions.bun, versions.deno, versions.node, versions.nginx].join(", ")}; wrk ${versions.wrk}`,
      `- command: \`${cmd}\``,
      `- load: \`wrk -t1 -c32 -d${opts.duration}s --latency http://127.0.0.1:PORT${opts.path}\`, ${opts.runs} run(s) per arm after ${opts.warmup}s warm-up; medians`,
      `- pinning: ${pinned ? "proxy on CPU 0, upstream and wrk on CPU 1 (taskset)" : "none"}`,
      "",
      markdownTable(results),
      ...(notes.length ? ["", "Notes:", "", ...notes.map((n) => `- ${n}`)] : []),
    ];
    process.stdout.write(`${out.join("\n")}\n`);
    return results.some((r) => r.error) ? 1 : 0;
  } finally {
    await stopAll();
  }
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).message ?? error}\n`);
    await stopAll();
    process.exit(1);
  },
);
