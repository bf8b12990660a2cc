import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** What `portico --version` reports: the package version and the git commit it was built from. */
export interface BuildInfo {
  readonly version: string;
  /** Short commit hash, with `-dirty` when the tree had uncommitted changes; `dev` when unknown. */
  readonly commit: string;
}

let stamped: BuildInfo | undefined;

/**
 * Records the version and commit of a compiled binary. The binary's generated entry point
 * (deploy/binary/build.ts) calls this before the CLI runs; source runs never call it.
 */
export function stampBuild(info: BuildInfo): void {
  stamped = info;
}

/**
 * The commit of the checkout this source file lives in, or `dev` when git or the repository is
 * missing. `node:child_process` is loaded here, for `--version` only, not by every gateway start.
 */
async function sourceCommit(): Promise<string> {
  const { execFileSync } = await import("node:child_process");
  try {
    const cwd = fileURLToPath(new URL(".", import.meta.url));
    const run = (args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 2_000 }).trim();
    const commit = run(["rev-parse", "--short=12", "HEAD"]);
    return run(["status", "--porcelain", "--untracked-files=no"]) ? `${commit}-dirty` : commit;
  } catch {
    return "dev";
  }
}

function packageJsonVersion(): string {
  return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

/** The version alone, without asking git for the commit (cheap enough for every gateway start). */
export function buildVersion(): string {
  return stamped?.version ?? packageJsonVersion();
}

/** The stamped build information of a binary, or (running from source) package.json's version and the git commit. */
export async function buildInfo(): Promise<BuildInfo> {
  stamped ??= { version: packageJsonVersion(), commit: await sourceCommit() };
  return stamped;
}
