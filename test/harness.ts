/**
 * Test harness for end-to-end tests: runs the real `portico` CLI as a child process on the
 * runtime that runs the tests (so `bun test`, `deno test` and `node --test` each exercise their
 * own adapter), with free loopback ports and a configuration written to a temporary directory.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { detectRuntime } from "../runtime/server/detect.ts";

/** Root of the repository. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "runtime", "cli.ts");

/** The command that runs a TypeScript entry point on the current runtime. */
export function scriptCommand(script: string): string[] {
  switch (detectRuntime()) {
    case "bun":
      return [process.execPath, script];
    case "deno":
      return [process.execPath, "run", "-A", script];
    case "node":
      return [process.execPath, "--import", "tsx", script];
  }
}

/** The command that runs the CLI on the current runtime. */
function cliCommand(): string[] {
  return scriptCommand(CLI);
}

/** Ports this test process has handed out already (see freePort). */
const handedOut = new Set<number>();

/** One port the system picks for a listener on loopback, bound and released. */
function systemPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A free TCP port on loopback (bound and released; good enough on a test machine), never one this
 * process handed out before: a released port can come back from the system at once, and two
 * gateways started together would then be given the same one.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0;; attempt++) {
    const port = await systemPort();
    if (!handedOut.has(port) || attempt >= 20) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Temporary directories made by this test process, removed when it exits. */
const madeDirs: string[] = [];
process.on("exit", () => {
  for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed when the test process exits. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "portico-test-"));
  madeDirs.push(dir);
  return dir;
}

/** Output of a finished CLI run. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to completion with extra environment variables. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<CliResult> {
  const [cmd, ...base] = cliCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, [...base, ...args], { cwd: ROOT, env: { ...cleanEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`portico ${args.join(" ")} did not exit within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("PORTICO_")) env[k] = v;
  return env;
}

/** A `portico` child process under test: its output, and a way to wait for a line of it. */
export interface PorticoProcess {
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when the output (from offset `from`) matches, or rejects after the timeout or on exit. */
  waitForOutput(pattern: RegExp, timeoutMs?: number, from?: number): Promise<void>;
  /** Resolves with the exit code once the process has exited. */
  exited(): Promise<number | null>;
  /** The resident set size of the process, in bytes (Linux). */
  rss(field?: "VmRSS" | "VmHWM"): number;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/** Runs `portico ARGS` on the current runtime with a clean environment (no PORTICO_* from the caller) plus `env`. */
export function spawnPortico(args: string[], env: Record<string, string> = {}): PorticoProcess {
  const [cmd, ...base] = cliCommand();
  const child = spawn(cmd!, [...base, ...args], {
    cwd: ROOT,
    env: { ...cleanEnv(), PORTICO_TELEMETRY_LOGS_STD: "json", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const waiters = new Set<() => void>();
  const collect = (d: Buffer) => {
    output += d.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  let exitCode: number | null | undefined;
  // What the process wrote last may still be in the pipes when "exit" fires: `exited()` waits for
  // both pipes to close too (at most 2 s more, in case a process it started still holds them).
  const drained = Promise.all([child.stdout!, child.stderr!].map((stream) => new Promise((resolve) => stream.once("close", resolve))));
  const exit = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      const finish = () => {
        clearTimeout(timer);
        if (exitCode !== undefined) return;
        exitCode = code;
        for (const w of waiters) w();
        resolve(code);
      };
      const timer = setTimeout(finish, 2_000);
      void drained.then(finish);
    })
  );
  return {
    child,
    output: () => output,
    exited: () => exit,
    waitForOutput(pattern, timeoutMs = 10_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(output.slice(from))) return done(resolve);
          if (exitCode !== undefined) done(() => reject(new Error(`process exited before printing ${pattern}:\n${output}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${pattern}; output:\n${output}`))), timeoutMs);
        const done = (then: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          then();
        };
        waiters.add(check);
        check();
      });
    },
    rss(field = "VmRSS") {
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
      if (!match) throw new Error(`no ${field} in /proc/${child.pid}/status`);
      return Number(match[1]) * 1024;
    },
    stop() {
      if (exitCode !== undefined) return Promise.resolve();
      // process.kill, not child.kill: Deno's ChildProcess ignores a second signal once one was sent.
      const timer = setTimeout(() => {
        try {
          process.kill(child.pid!, "SIGKILL");
        } catch {
          // already gone
        }
      }, 5_000);
      child.kill("SIGTERM");
      return exit.then(() => clearTimeout(timer));
    },
  };
}

/** Polls a URL until it answers 200, or throws (with the process output) after the timeout or if the process exits. */
export async function waitForOk(proc: PorticoProcess, url: string, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  let last = "no attempt";
  void proc.exited().then(() => (exited = true));
  for (;;) {
    if (exited) throw new Error(`${what} exited during start-up:\n${proc.output()}`);
    try {
      // Each attempt is bounded, so that one stuck connection cannot use up the whole wait.
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      if (res.status === 200) return;
      last = `answered ${res.status}`;
    } catch (error) {
      // not listening yet
      last = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`${what} not ready within ${timeoutMs} ms (${url}: ${last}):\n${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A gateway child process under test. */
export interface GatewayProcess extends PorticoProcess {
  readonly port: number;
  readonly managementPort: number;
  /** `http://127.0.0.1:PORT` of the traffic listener. */
  readonly url: string;
  /** The standalone configuration file (empty in control-plane mode). */
  readonly configFile: string;
}

/** Options for a gateway under test. */
export interface GatewayOptions {
  /** YAML configuration text, written to `config.yaml` in a temporary directory (standalone); omit for control-plane mode. */
  readonly config?: string;
  readonly env?: Record<string, string>;
  /** Wait for /readyz 200 (default true). */
  readonly ready?: boolean;
}

/** Starts a gateway on free ports and (by default) waits until /readyz answers 200. */
export async function startGatewayProcess({ config, env = {}, ready = true }: GatewayOptions): Promise<GatewayProcess> {
  let configFile = "";
  if (config !== undefined) {
    configFile = join(tempDir(), "config.yaml");
    writeFileSync(configFile, config);
  }
  const port = await freePort();
  const managementPort = await freePort();
  const proc = spawnPortico(configFile ? ["gateway", "--config", configFile] : ["gateway"], {
    PORTICO_NET_SERVER_HTTP_PORT: String(port),
    PORTICO_NET_MANAGEMENT_PORT: String(managementPort),
    PORTICO_NET_SERVER_BIND_ADDRESS: "127.0.0.1",
    PORTICO_NET_MANAGEMENT_BIND_ADDRESS: "127.0.0.1",
    ...env,
  });
  const gateway: GatewayProcess = { ...proc, port, managementPort, url: `http://127.0.0.1:${port}`, configFile };
  if (ready) await waitForOk(proc, `http://127.0.0.1:${managementPort}/readyz`, "gateway");
  return gateway;
}
