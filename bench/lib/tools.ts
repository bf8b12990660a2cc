/** External tools for benchmarks: finding them, installing Debian packages when root, versions. */
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** The full path of executable `name` on PATH (plus the sbin directories), or undefined. */
export function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const dir of dirs.filter(Boolean)) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

function aptInstall(pkg: string): boolean {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  // apt's output goes to stderr: stdout carries the report.
  const stdio: ["ignore", number, number] = ["ignore", 2, 2];
  const install = () => spawnSync("apt-get", ["install", "-y", "--no-install-recommends", pkg], { stdio, env }).status === 0;
  if (install()) return true;
  // The package lists may be missing or stale: refresh once and try again.
  spawnSync("apt-get", ["update"], { stdio, env });
  return install();
}

/**
 * Finds `bin`; if missing and running as root, installs Debian package `pkg` with apt-get.
 * Returns the path, or undefined after pushing to `notes` how to install it by hand.
 */
export function ensureTool(bin: string, pkg: string, notes: string[]): string | undefined {
  const found = which(bin);
  if (found) return found;
  if (isRoot() && which("apt-get")) {
    process.stderr.write(`${bin} not found: installing Debian package ${pkg}\n`);
    if (aptInstall(pkg)) return which(bin);
    notes.push(`\`apt-get install -y ${pkg}\` failed, so ${bin} is not available.`);
    return undefined;
  }
  notes.push(`${bin} not found; install it with \`sudo apt-get install -y ${pkg}\` (Debian/Ubuntu).`);
  return undefined;
}

/** The first line a command prints (stdout, else stderr), or "unknown" if it cannot run. */
export function firstLine(argv: string[]): string {
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
  const text = `${result.stdout ?? ""}`.trim() || `${result.stderr ?? ""}`.trim();
  return text.split("\n")[0]?.trim() || "unknown";
}

/** A version number (first `1.2.3`-like token) found in `text`, or `text` itself. */
export function versionIn(text: string): string {
  return /\d+\.\d+(\.\d+)?/.exec(text)?.[0] ?? text;
}
