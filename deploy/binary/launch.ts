/**
 * Starting a compiled binary as an edge host would, for the smoke tests and the measurements:
 * the binary is linked (or copied) into an empty temporary directory and runs from there, so it
 * cannot find anything of the repository next to it; the linux-arm64 binary runs under
 * `qemu-aarch64-static` on other machines. The quickstart configuration runs with the demo echo
 * backend on a free port.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, existsSync, linkSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { arch, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { startEchoBackend } from "../../runtime/demo/echo-backend.ts";
import { freePort } from "../../test/harness.ts";
import { binaryPath, type Platform, ROOT } from "./build.ts";

/** The platform of this machine, when it is one we ship. */
export function hostPlatform(): Platform | undefined {
  return arch() === "x64" ? "linux-x64" : arch() === "arm64" ? "linux-arm64" : undefined;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) if (dir && existsSync(join(dir, name))) return join(dir, name);
  return ["/usr/bin", "/usr/local/bin"].map((d) => join(d, name)).find(existsSync);
}

/**
 * The command prefix that runs a binary of `platform` here: nothing on its own architecture,
 * `qemu-aarch64-static` for linux-arm64 on another one. Throws naming the missing package when
 * the emulator or the arm64 C library is not installed.
 */
function emulatorFor(platform: Platform): string[] {
  if (platform === hostPlatform()) return [];
  if (platform !== "linux-arm64") throw new Error(`cannot run a ${platform} binary on ${arch()}`);
  const qemu = onPath("qemu-aarch64-static");
  if (!qemu) {
    throw new Error(
      "qemu-aarch64-static is not installed: the linux-arm64 smoke test needs Debian's qemu-user-static (.ci/run installs it: apt-get install qemu-user-static)",
    );
  }
  if (!existsSync("/lib/ld-linux-aarch64.so.1")) {
    throw new Error(
      "the arm64 C library is not installed (/lib/ld-linux-aarch64.so.1 is missing): dpkg --add-architecture arm64 && apt-get update && apt-get install libc6:arm64 (.ci/run does this)",
    );
  }
  return [qemu];
}

/** The quickstart configuration with its echo backend moved from port 9001 to `echoPort`. */
export function quickstartConfig(echoPort: number): string {
  const original = readFileSync(join(ROOT, "config/examples/quickstart.yaml"), "utf8");
  const moved = original.replaceAll("127.0.0.1:9001", `127.0.0.1:${echoPort}`);
  if (moved === original) throw new Error("config/examples/quickstart.yaml no longer points at the echo backend on 127.0.0.1:9001");
  return moved;
}

/** A binary started on the quickstart configuration. */
export interface RunningBinary {
  readonly child: ChildProcess;
  /** `http://127.0.0.1:PORT` of the traffic listener. */
  readonly url: string;
  readonly managementUrl: string;
  /** `performance.now()` when the process was spawned. */
  readonly spawnedAt: number;
  /** Milliseconds from spawning the process to the first 200 from /readyz. */
  readonly readyMs: number;
  /** The temporary directory the binary runs in (its cwd; the backup goes to `backup/` inside). */
  readonly dir: string;
  /** Everything the binary wrote so far. */
  output(): string;
  /** Resident set size of the process (for arm64: of the emulator running it), bytes. */
  rss(): number;
  /** Stops the binary and the echo backend and removes the directory. */
  stop(): Promise<void>;
}

/** Puts the binary into a fresh empty directory (hard link when possible, else a copy). */
function isolate(platform: Platform): { dir: string; binary: string } {
  const source = binaryPath(platform);
  if (!existsSync(source)) throw new Error(`${source} does not exist: run npm run build:binary`);
  const dir = mkdtempSync(join(tmpdir(), `portico-${platform}-`));
  const binary = join(dir, "portico");
  try {
    linkSync(source, binary);
  } catch {
    copyFileSync(source, binary);
  }
  return { dir, binary };
}

/** Runs the binary of `platform` to completion with `args` and extra environment variables (from an empty directory). */
export function runBinary(
  platform: Platform,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const prefix = emulatorFor(platform);
  const { dir, binary } = isolate(platform);
  const [cmd, ...rest] = [...prefix, binary, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, rest, { cwd: dir, env: { ...cleanEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, stdout, stderr });
    });
  });
}

function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("PORTICO_") && !k.startsWith("BUN_")) env[k] = v;
  return env;
}

/** Settings for a gateway under test: traffic and management on loopback ports, its backup in `dir`, JSON logs. */
export function loopbackGatewayEnv(port: number, management: number, dir: string): Record<string, string> {
  return {
    PORTICO_NET_SERVER_HTTP_PORT: String(port),
    PORTICO_NET_MANAGEMENT_PORT: String(management),
    PORTICO_NET_SERVER_BIND_ADDRESS: "127.0.0.1",
    PORTICO_NET_MANAGEMENT_BIND_ADDRESS: "127.0.0.1",
    PORTICO_CONFIG_BACKUP_PATH: join(dir, "backup"),
    PORTICO_TELEMETRY_LOGS_STD: "json",
  };
}

/**
 * Starts the binary of `platform` on the quickstart configuration (echo backend on a free port,
 * traffic and management listeners on free loopback ports) and resolves once /readyz answers 200.
 * If the binary exits or is not ready within `timeoutMs`, rejects with everything it printed.
 */
export async function startQuickstart(platform: Platform, timeoutMs = 60_000): Promise<RunningBinary> {
  const prefix = emulatorFor(platform);
  const echoPort = await freePort();
  const echo: Server = await startEchoBackend(echoPort);
  const { dir, binary } = isolate(platform);
  const config = join(dir, "quickstart.yaml");
  writeFileSync(config, quickstartConfig(echoPort));
  const port = await freePort();
  const management = await freePort();
  const [cmd, ...args] = [...prefix, binary, "gateway", "--config", config];
  const started = performance.now();
  const child = spawn(cmd!, args, {
    cwd: dir,
    env: { ...cleanEnv(), ...loopbackGatewayEnv(port, management, dir) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  let spawnError: Error | undefined;
  child.on("error", (error) => (spawnError = error));
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null && !spawnError) {
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      child.kill("SIGTERM");
      await exited;
      clearTimeout(timer);
    }
    echo.closeAllConnections?.();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  };

  const managementUrl = `http://127.0.0.1:${management}`;
  for (;;) {
    if (spawnError || child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(
        `${platform} binary did not start (${spawnError?.message ?? `exit code ${child.exitCode}, signal ${child.signalCode}`}); it printed:\n${
          output || "(nothing)"
        }`,
      );
    }
    try {
      const res = await fetch(`${managementUrl}/readyz`);
      await res.body?.cancel();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (performance.now() - started > timeoutMs) {
      await stop();
      throw new Error(`${platform} binary not ready within ${timeoutMs} ms; it printed:\n${output || "(nothing)"}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const readyMs = performance.now() - started;
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    managementUrl,
    spawnedAt: started,
    readyMs,
    dir,
    output: () => output,
    rss() {
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
      if (!match) throw new Error(`no VmRSS in /proc/${child.pid}/status`);
      return Number(match[1]) * 1024;
    },
    stop,
  };
}
