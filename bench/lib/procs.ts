/**
 * Child processes for benchmarks: each runs in its own process group so that stopping it also
 * stops whatever it started, and every live one is killed when this process exits, fails or is
 * interrupted (see `installCleanup`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { describeError } from "../../config/schema/problems.ts";

const live = new Set<ChildProcess>();
const exitHooks: (() => void)[] = [];

/** Registers a synchronous clean-up (e.g. removing a temp dir) run when this process exits, however it exits. */
export function atExit(hook: () => void): void {
  exitHooks.push(hook);
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function exitOf(child: ChildProcess): Promise<string> {
  return new Promise<string>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(String(child.exitCode ?? child.signalCode));
    child.once("exit", (code, signal) => resolve(String(code ?? signal)));
    child.once("error", (error) => resolve(error.message));
  }).finally(() => live.delete(child));
}

/** A long-running child (server) whose stdout and stderr go to a log file. */
export interface Server {
  readonly name: string;
  /** The process id (the runtime itself: `taskset` execs it, keeping the id). */
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code or signal when the process ends. */
  readonly exited: Promise<string>;
  /** Whether the process has ended. */
  hasExited(): boolean;
  /** The first log line that looks like an error (else the last line), for one-line summaries. */
  errorLine(): string;
  /** The log's last `lines` lines. */
  logTail(lines?: number): string;
  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `argv` in its own process group, output appended to `logFile`. */
export function startServer(name: string, argv: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; logFile: string }): Server {
  const fd = openSync(opts.logFile, "a");
  const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env ?? process.env, detached: true, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  live.add(child);
  let ended = false;
  const exited = exitOf(child).finally(() => (ended = true));
  return {
    name,
    pid: child.pid ?? -1,
    logFile: opts.logFile,
    exited,
    hasExited: () => ended,
    errorLine() {
      const lines = this.logTail(200).split("\n").map((l) => l.trim()).filter(Boolean);
      return lines.find((l) => /^\w*(Error|error)\b|^error:/.test(l)) ?? lines.at(-1) ?? "(no output)";
    },
    logTail(lines = 20) {
      try {
        return readFileSync(opts.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
      } catch {
        return "";
      }
    },
    async stop(graceMs = 3000) {
      if (ended) return;
      signalGroup(child, "SIGTERM");
      const timer = setTimeout(() => signalGroup(child, "SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
      signalGroup(child, "SIGKILL"); // anything the leader left behind in its group
    },
  };
}

/** What a captured command printed, and how it ended. */
export interface Captured {
  readonly status: string;
  readonly stdout: string;
  readonly stderr: string;
}

/** A captured command still running: `interrupt` sends it SIGINT, `done` resolves when it ends. */
export interface Running {
  interrupt(): void;
  readonly done: Promise<Captured>;
}

/** Where and how a captured command runs. */
export interface CaptureOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Starts `argv` (in its own process group, killed after `timeoutMs`) capturing its output. */
export function startCapture(argv: string[], timeoutMs: number, opts: CaptureOptions = {}): Running {
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ["ignore", "pipe", "pipe"], cwd: opts.cwd, env: opts.env ?? process.env });
  live.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => signalGroup(child, "SIGKILL"), timeoutMs);
  const done = exitOf(child).then((status) => {
    clearTimeout(timer);
    return { status, stdout, stderr };
  });
  return { interrupt: () => signalGroup(child, "SIGINT"), done };
}

/** Runs `argv` to completion (killed after `timeoutMs`) and captures its output. */
export function runCapture(argv: string[], timeoutMs: number, opts: CaptureOptions = {}): Promise<Captured> {
  return startCapture(argv, timeoutMs, opts).done;
}

/** Kills every live child's process group with SIGTERM, then SIGKILL after a short grace. */
export async function stopAll(graceMs = 2000): Promise<void> {
  const children = [...live];
  for (const child of children) signalGroup(child, "SIGTERM");
  const deadline = setTimeout(() => children.forEach((c) => signalGroup(c, "SIGKILL")), graceMs);
  await Promise.all(children.map(exitOf));
  clearTimeout(deadline);
}

/**
 * Makes sure no child outlives this process: SIGINT/SIGTERM stop every child and exit (130/143),
 * and a plain or failed exit SIGKILLs whatever is still running, then runs the `atExit` hooks.
 */
export function installCleanup(): void {
  process.on("exit", () => {
    live.forEach((child) => signalGroup(child, "SIGKILL"));
    for (const hook of exitHooks.splice(0)) {
      try {
        hook();
      } catch {
        // best effort while exiting
      }
    }
  });
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.on(signal, () => {
      process.stderr.write(`\n${signal}: stopping benchmark processes\n`);
      void stopAll().finally(() => process.exit(code));
    });
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago (the same helper the tests use). */
export { freePort } from "../../test/harness.ts";

/** Runs a benchmark entry point: exits with its code, and on an error says why and stops every process first. */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    async (error: unknown) => {
      process.stderr.write(`bench: ${describeError(error)}\n`);
      await stopAll();
      process.exit(1);
    },
  );
}

/**
 * Polls `url` until it answers 200 (returning the body), `server` exits, or `timeoutMs` passes;
 * the two failures throw with the server's log tail.
 */
export async function waitForOk(url: string, timeoutMs: number, server?: Server): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (server?.hasExited()) {
      throw new Error(`${server.name} exited (${await server.exited}) before ${url} answered: ${server.errorLine()}\n${server.logTail()}`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      const body = await response.text();
      if (response.status === 200) return body;
      last = `status ${response.status}`;
    } catch (error) {
      last = describeError(error);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last})${server ? `\n${server.logTail()}` : ""}`);
}
