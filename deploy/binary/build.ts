/**
 * Single-file binaries: `npm run build:binary` (= build:policies, then `bun deploy/binary/build.ts`)
 * writes `dist/portico-linux-x64` and `dist/portico-linux-arm64` with `bun build --compile`
 * (arm64 is cross-compiled: Bun fetches its linux-arm64 runtime from the npm registry once and
 * caches it). Each binary embeds the built-in policy modules and is stamped with the package
 * version and the git commit (`PORTICO_COMMIT` overrides the commit, e.g. in a container build
 * without `.git`).
 *
 * The build goes through a generated entry point, `dist/.build/entry.ts`: it imports every module in
 * `policies-wasm/dist/builtins/` with `with { type: "file" }` (Bun then embeds the file and gives
 * its path inside the binary), hands those paths to `embedBuiltinModules`, stamps the version, and
 * only then loads the CLI. The source tree itself never uses Bun-only imports, so Deno and Node run
 * it unchanged.
 *
 * `dist/binaries.json` records a hash of every input (sources, lock file, built-in modules, Bun's
 * version, the commit stamp): `ensureBinaries()` rebuilds only when it changed, so the smoke tests
 * on three runtimes share one build. Usage: `bun deploy/binary/build.ts [--if-stale] [--target linux-x64|linux-arm64]...`.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BUILTIN_POLICIES } from "../../config/schema/validate.ts";
import { isHostPolicy } from "../../config/schema/policies.ts";
import { describeError } from "../../config/schema/problems.ts";

/** Root of the repository. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** Where the binaries and the build stamp go. */
const DIST = join(ROOT, "dist");
const BUILTINS = join(ROOT, "policies-wasm", "dist", "builtins");
const STAMP = join(DIST, "binaries.json");

/** The platforms we ship, and Bun's `--target` for each. */
const TARGETS = { "linux-x64": "bun-linux-x64", "linux-arm64": "bun-linux-arm64" } as const;
/** A platform we ship, e.g. `linux-arm64`. */
export type Platform = keyof typeof TARGETS;

/** The path of the binary for a platform: `dist/portico-<platform>`. */
export function binaryPath(platform: Platform): string {
  return join(DIST, `portico-${platform}`);
}

/** The Bun executable that comes with the package (falls back to `bun` on PATH). */
function bunExecutable(): string {
  try {
    return createRequire(import.meta.url).resolve("bun/bin/bun.exe");
  } catch {
    return "bun";
  }
}

/** The commit to stamp: `PORTICO_COMMIT`, else git's short hash (with `-dirty` for uncommitted changes), else `unknown`. */
function commitStamp(env: Record<string, string | undefined> = process.env): string {
  if (env.PORTICO_COMMIT) return env.PORTICO_COMMIT;
  try {
    const run = (args: string[]) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const commit = run(["rev-parse", "--short=12", "HEAD"]);
    return run(["status", "--porcelain", "--untracked-files=no"]) ? `${commit}-dirty` : commit;
  } catch {
    return "unknown";
  }
}

/** Every file whose content goes into a binary, sorted: sources (not tests), manifests, built-in modules. */
function inputFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|json|yaml)$/.test(entry.name) && !entry.name.endsWith("_test.ts")) files.push(path);
    }
  };
  walk(join(ROOT, "runtime"));
  walk(join(ROOT, "config"));
  for (const name of readdirSync(BUILTINS)) if (name.endsWith(".wasm")) files.push(join(BUILTINS, name));
  files.push(join(ROOT, "package.json"), join(ROOT, "package-lock.json"), fileURLToPath(import.meta.url));
  return [...new Set(files)].sort();
}

/** The built-in modules to embed, by policy name; fails naming what is missing when a built-in is not built. */
function builtinModules(): Record<string, string> {
  const found: Record<string, string> = {};
  if (existsSync(BUILTINS)) {
    for (const file of readdirSync(BUILTINS).sort()) if (file.endsWith(".wasm")) found[file.slice(0, -".wasm".length)] = join(BUILTINS, file);
  }
  const missing = [...BUILTIN_POLICIES].filter((name) => !isHostPolicy(name) && !(name in found));
  if (missing.length) throw new Error(`built-in policies not built: ${missing.join(", ")} (in ${relative(ROOT, BUILTINS)}/); run npm run build:policies`);
  return found;
}

/** The stamp written next to the binaries. */
interface Stamp {
  readonly inputs: string;
  readonly version: string;
  readonly commit: string;
  readonly bun: string;
  readonly binaries: Record<string, { bytes: number; sha256: string }>;
}

/** A hash of every input of the build, the Bun version and the commit stamp. */
function inputsHash(bun: string, commit: string, platforms: readonly Platform[]): string {
  const hash = createHash("sha256").update(`${bun}\0${commit}\0${platforms.join(",")}\0`);
  for (const file of inputFiles()) hash.update(relative(ROOT, file)).update("\0").update(readFileSync(file)).update("\0");
  return hash.digest("hex");
}

/** The generated entry point: embeds the built-in modules, stamps the version, then runs the CLI. */
function entrySource(modules: Record<string, string>, version: string, commit: string, dir: string): string {
  const rel = (path: string) => JSON.stringify(relative(dir, path).split("\\").join("/").replace(/^(?!\.)/, "./"));
  const names = Object.keys(modules);
  return [
    "// Generated by deploy/binary/build.ts: the entry point of the compiled binary. Do not edit.",
    `import { embedBuiltinModules } from ${rel(join(ROOT, "runtime/policy/builtins.ts"))};`,
    `import { stampBuild } from ${rel(join(ROOT, "runtime/cli/build-info.ts"))};`,
    ...names.map((name, i) => `import module${i} from ${rel(modules[name]!)} with { type: "file" };`),
    `embedBuiltinModules({ ${names.map((name, i) => `${JSON.stringify(name)}: module${i}`).join(", ")} });`,
    `stampBuild({ version: ${JSON.stringify(version)}, commit: ${JSON.stringify(commit)} });`,
    `await import(${rel(join(ROOT, "runtime/cli.ts"))});`,
    "",
  ].join("\n");
}

/** Options for a build. */
export interface BuildOptions {
  /** Platforms to build (default: all). */
  readonly platforms?: readonly Platform[];
  /** Skip the build when `dist/binaries.json` says the inputs did not change. */
  readonly ifStale?: boolean;
  /** Progress lines (default: stderr). */
  readonly log?: (line: string) => void;
}

/** What a build produced (or found up to date). */
export interface BuildResult {
  readonly built: boolean;
  readonly commit: string;
  readonly version: string;
  readonly binaries: Record<string, { path: string; bytes: number; sha256: string }>;
}

/** Builds the binaries with `bun build --compile`, or reuses them when `ifStale` and nothing changed. */
function buildBinaries(
  { platforms = Object.keys(TARGETS) as Platform[], ifStale = false, log = (l) => process.stderr.write(`${l}\n`) }: BuildOptions = {},
): BuildResult {
  const bun = bunExecutable();
  const bunVersion = execFileSync(bun, ["--version"], { encoding: "utf8" }).trim();
  const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  const commit = commitStamp();
  const modules = builtinModules();
  const inputs = inputsHash(bunVersion, commit, platforms);
  const result = (stamp: Stamp, built: boolean): BuildResult => ({
    built,
    commit: stamp.commit,
    version: stamp.version,
    binaries: Object.fromEntries(platforms.map((p) => [p, { path: binaryPath(p), ...stamp.binaries[p]! }])),
  });

  if (ifStale && existsSync(STAMP)) {
    const stamp = JSON.parse(readFileSync(STAMP, "utf8")) as Stamp;
    const intact = platforms.every((p) => existsSync(binaryPath(p)) && stamp.binaries[p]?.bytes === statSync(binaryPath(p)).size);
    if (stamp.inputs === inputs && intact) {
      log(`binaries up to date (${platforms.join(", ")}, commit ${commit})`);
      return result(stamp, false);
    }
  }

  const work = join(DIST, ".build");
  mkdirSync(work, { recursive: true });
  const entry = join(work, "entry.ts");
  writeFileSync(entry, entrySource(modules, version, commit, work));
  rmSync(STAMP, { force: true });
  const binaries: Stamp["binaries"] = {};
  for (const platform of platforms) {
    const out = binaryPath(platform);
    const partial = `${out}.partial`;
    const started = Date.now();
    try {
      // The AssemblyScript compiler (about 18 MiB with binaryen) stays out: `portico policy build`
      // needs the SDK's sources too, so it runs from the npm package or a checkout, not the binary.
      const args = ["build", "--compile", `--target=${TARGETS[platform]}`, "--minify-syntax", "--minify-whitespace", "--external", "assemblyscript/asc"];
      execFileSync(bun, [...args, entry, "--outfile", partial], {
        cwd: ROOT,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (error) {
      const { stderr, stdout } = error as { stderr?: string; stdout?: string };
      throw new Error(`bun build --compile --target=${TARGETS[platform]} failed:\n${stderr || stdout || describeError(error)}`);
    }
    renameSync(partial, out);
    const bytes = readFileSync(out);
    binaries[platform] = { bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
    log(`built ${relative(ROOT, out)} (${(bytes.length / 2 ** 20).toFixed(1)} MiB, ${Date.now() - started} ms, commit ${commit})`);
  }
  const stamp: Stamp = { inputs, version, commit, bun: bunVersion, binaries };
  writeFileSync(STAMP, `${JSON.stringify(stamp, null, 2)}\n`);
  return result(stamp, true);
}

/** Builds the binaries unless `dist/` already holds them for exactly these inputs (for the smoke tests). */
export function ensureBinaries(platforms?: readonly Platform[]): BuildResult {
  return buildBinaries({ platforms, ifStale: true });
}

const isMain = (import.meta as { main?: boolean }).main ?? (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]);
if (isMain) {
  let values: { "if-stale"?: boolean; target?: string[] };
  try {
    ({ values } = parseArgs({ options: { "if-stale": { type: "boolean" }, target: { type: "string", multiple: true } }, strict: true }));
    for (const t of values.target ?? []) if (!(t in TARGETS)) throw new Error(`unknown target "${t}" (known: ${Object.keys(TARGETS).join(", ")})`);
  } catch (error) {
    process.stderr.write(`build-binary: ${describeError(error)}\n`);
    process.exit(2);
  }
  try {
    buildBinaries({ platforms: values.target as Platform[] | undefined, ifStale: values["if-stale"] });
  } catch (error) {
    process.stderr.write(`build-binary: ${describeError(error)}\n`);
    process.exit(1);
  }
}
