/**
 * Compiles every policy in this folder to WebAssembly under `policies-wasm/dist/<group>/`:
 * each `fixtures/*`, `builtins/*` and `examples/*` folder with an `index.ts` (AssemblyScript, with
 * the SDK, through `compilePolicy`, the pipeline `portico policy build` uses too), and each C
 * (`examples/NAME/*.c`, Debian's clang and lld, `--target=wasm32`, no libc) and Rust
 * (`examples/NAME/*.rs`, Debian's rustc with libstd-rust-dev-wasm32) example, as `NAME-c.wasm`
 * and `NAME-rust.wasm`. Binaries are never committed; `npm test` and `npm start` run this first.
 * Usage: `bun policies-wasm/build.ts`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { compilePolicy } from "./compile.ts";

const ROOT = fileURLToPath(new URL(".", import.meta.url));
const GROUPS = ["fixtures", "builtins", "examples"];

/** The Rust compiler: Debian's (`/usr/bin/rustc`, which has the wasm32 standard library) unless PORTICO_RUSTC names another. */
const RUSTC = process.env.PORTICO_RUSTC ?? (existsSync("/usr/bin/rustc") ? "/usr/bin/rustc" : "rustc");

/** The command lines for sources in other languages, by file extension. */
const FOREIGN: Record<string, { suffix: string; command: (source: string, out: string) => string[]; packages: string }> = {
  ".c": {
    suffix: "-c",
    command: (source, out) => [
      "clang",
      "--target=wasm32",
      "-O2",
      "-nostdlib",
      "-fno-builtin",
      "-Wall",
      "-Wextra",
      "-Werror",
      "-Wl,--no-entry",
      "-Wl,--strip-all",
      "-o",
      out,
      source,
    ],
    packages: "clang lld",
  },
  ".rs": {
    suffix: "-rust",
    command: (source, out) => [
      RUSTC,
      "--edition",
      "2021",
      "--crate-type",
      "cdylib",
      "--target",
      "wasm32-unknown-unknown",
      // A 64 KiB stack instead of Rust's 1 MiB, so the module starts in 2 pages and fits small memory budgets.
      "-C",
      "opt-level=s",
      "-C",
      "panic=abort",
      "-C",
      "strip=symbols",
      "-C",
      "link-arg=-zstack-size=65536",
      "-D",
      "warnings",
      "-o",
      out,
      source,
    ],
    packages: "rustc libstd-rust-dev-wasm32",
  },
};

/** One source to compile: its entry file and where its module goes. */
interface Target {
  readonly entry: string;
  readonly out: string;
}

function targets(): Target[] {
  const found: Target[] = [];
  for (const group of GROUPS) {
    const dir = join(ROOT, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      const folder = join(dir, name);
      if (existsSync(join(folder, "index.ts"))) found.push({ entry: join(folder, "index.ts"), out: join(ROOT, "dist", group, `${name}.wasm`) });
      if (group !== "examples") continue;
      for (const file of readdirSync(folder).sort()) {
        const language = FOREIGN[file.slice(file.lastIndexOf("."))];
        if (language) found.push({ entry: join(folder, file), out: join(ROOT, "dist", group, `${name}${language.suffix}.wasm`) });
      }
    }
  }
  return found;
}

/** Compiles a C or Rust source with its toolchain; resolves to what went wrong, if anything. */
function compileForeign({ entry, out }: Target): string | undefined {
  const language = FOREIGN[entry.slice(entry.lastIndexOf("."))]!;
  const [command, ...args] = language.command(entry, out);
  const run = spawnSync(command!, args, { encoding: "utf8" });
  if (run.error) return `cannot run ${command} (${run.error.message}); install the Debian packages ${language.packages} (.ci/run does)`;
  return run.status === 0 ? undefined : `${command} exited with ${run.status}\n${run.stderr}`.trimEnd();
}

const failures: string[] = [];
for (const target of targets()) {
  mkdirSync(join(target.out, ".."), { recursive: true });
  const problem = target.entry.endsWith(".ts") ? await compilePolicy(target.entry, target.out) : compileForeign(target);
  if (problem) failures.push(`${relative(process.cwd(), target.entry)}: ${problem}`);
  else process.stdout.write(`built ${relative(process.cwd(), target.out)}\n`);
}
if (failures.length) {
  process.stderr.write(`${failures.join("\n")}\n`);
  process.exit(1);
}
