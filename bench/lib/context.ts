/**
 * What every scenario of one benchmark run shares: the tools, the CPU pinning, runtime versions,
 * a temp dir and the benchmark upstream (started once, pinned to the load generator's CPU).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { atExit, freePort, type Server, startServer, waitForOk } from "./procs.ts";
import { ensureTool, firstLine, versionIn, which } from "./tools.ts";

/** The repository's root directory (where `runtime/cli.ts` is). */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The shared state of one benchmark run; see `openBench`. */
export interface Bench {
  readonly dir: string;
  readonly bun: string;
  readonly deno: string;
  readonly node: string;
  readonly wrk: string;
  /** Undefined when nginx is not installed (its arm is then skipped, with a note). */
  readonly nginx: string | undefined;
  /** `taskset` prefixes: the proxy under test on CPU 0, load generator and upstream on CPU 1 (empty if not pinned). */
  readonly proxyPin: readonly string[];
  readonly loadPin: readonly string[];
  readonly pinned: boolean;
  readonly versions: { readonly bun: string; readonly deno: string; readonly node: string; readonly nginx: string; readonly wrk: string };
  /** Set-up notes for the report (missing tools, no pinning). */
  readonly notes: string[];
  readonly upstream: Server;
  readonly upstreamPort: number;
  /** A gateway configuration with one API on `/` forwarding to the upstream, no policies. */
  readonly configFile: string;
}

/** The gateway configuration every scenario starts from: one API on `/`, one backend, no policies. */
export function baseConfig(upstreamPort: number): string {
  return `apis:\n  - { name: bench, path: /, backend: upstream }\nbackends:\n  upstream: { urls: ["http://127.0.0.1:${upstreamPort}"], timeout: 30s }\n`;
}

/** The base configuration with a chain of 5 built-in policies on the API (set-header: 3 inbound, 2 outbound). */
export function policyChainConfig(upstreamPort: number): string {
  const use = (name: string, value: string) => `        - { policy: set-header, with: { name: ${name}, value: ${value} } }\n`;
  return (
    `apis:\n  - name: bench\n    path: /\n    backend: upstream\n    policies:\n      inbound:\n` +
    use("x-bench-1", "a") + use("x-bench-2", "b") + use("x-bench-3", "c") +
    `      outbound:\n` + use("x-served-by", "portico") + use("x-bench-4", "d") +
    `backends:\n  upstream: { urls: ["http://127.0.0.1:${upstreamPort}"], timeout: 30s }\n`
  );
}

/**
 * Finds (or, as root, installs) wrk and, when `opts.nginx`, nginx; decides the pinning, reads versions, creates the
 * temp dir (removed at exit) and starts the upstream. Throws when wrk is missing.
 */
export async function openBench(opts: { nginx: boolean }): Promise<Bench> {
  const notes: string[] = [];
  const wrk = ensureTool("wrk", "wrk", notes);
  if (!wrk) throw new Error(notes.join("\n"));
  const nginx = opts.nginx ? ensureTool("nginx", "nginx-light", notes) : which("nginx");
  const taskset = which("taskset");
  const pinned = Boolean(taskset) && availableParallelism() >= 2;
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
  const loadPin = pinned ? [taskset!, "-c", "1"] : [];
  const upstreamPort = await freePort();
  const upstream = startServer("upstream", [...loadPin, bun, join(ROOT, "bench/upstream.ts"), String(upstreamPort)], {
    cwd: ROOT,
    logFile: join(dir, "upstream.log"),
  });
  await waitForOk(`http://127.0.0.1:${upstreamPort}/`, 10_000, upstream);
  const configFile = join(dir, "portico.yaml");
  writeFileSync(configFile, baseConfig(upstreamPort));
  return {
    dir,
    bun,
    deno,
    node,
    wrk,
    nginx,
    proxyPin: pinned ? [taskset!, "-c", "0"] : [],
    loadPin,
    pinned,
    versions,
    notes,
    upstream,
    upstreamPort,
    configFile,
  };
}

/** One line describing the machine: CPUs, model, memory, load average now. */
function machine(): string {
  const cpuinfo = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown CPU";
  const load = loadavg().map((n) => n.toFixed(2)).join(" ");
  return `${availableParallelism()} CPUs (${model}, ${process.arch}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, load average ${load}`;
}

/** The report header lines every run prints once: machine, versions, pinning. */
export function benchHeader(bench: Bench): string[] {
  const v = bench.versions;
  return [
    `- machine: ${machine()}`,
    `- runtimes: ${[v.bun, v.deno, v.node, v.nginx].join(", ")}; wrk ${v.wrk}`,
    `- pinning: ${bench.pinned ? "proxy under test on CPU 0; upstream and load generator on CPU 1 (taskset)" : "none"}`,
  ];
}
