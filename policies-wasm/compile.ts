/**
 * The one AssemblyScript pipeline every policy goes through: the built-ins and fixtures
 * (`build.ts`) and authors' projects (`portico policy build`). A policy imports the SDK as
 * `@portico/sdk`; the compiler is given this repository's `policies-wasm/sdk/` under that name,
 * wherever the policy's folder is, and the SDK's trap-only `abort`, so a module imports nothing
 * the host does not define.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The SDK's sources, served to the compiler as the package `@portico/sdk`. */
const SDK_DIR = fileURLToPath(new URL("./sdk/", import.meta.url));

/** The import name of the SDK. */
const SDK_PACKAGE = "@portico/sdk";

/** The package's `abort` as the compiler names it (package files live under `~lib/`). */
const ABORT = `~lib/${SDK_PACKAGE}/abort/portico_abort`;
const PACKAGE_PATH = `/node_modules/${SDK_PACKAGE}/`;

/**
 * Reads a source for the compiler: a file under any `node_modules/@portico/sdk/` the compiler
 * looks in is the SDK's own file; everything else is read from disk (null when absent).
 */
async function readSource(file: string, baseDir: string): Promise<string | null> {
  const path = resolve(baseDir, file).replaceAll("\\", "/");
  const at = path.indexOf(PACKAGE_PATH);
  const real = at >= 0 ? join(SDK_DIR, path.slice(at + PACKAGE_PATH.length)) : path;
  try {
    return await readFile(real, "utf8");
  } catch {
    return null;
  }
}

/**
 * Compiles one AssemblyScript policy (`entry`, usually an `index.ts`) to `out`, optimised.
 * Resolves to undefined on success, or to the compiler's diagnostics when it fails.
 */
export async function compilePolicy(entry: string, out: string): Promise<string | undefined> {
  if (!existsSync(SDK_DIR)) return `the AssemblyScript SDK is not at ${SDK_DIR}: build policies from Portico's npm package or a source checkout`;
  // The compiler (and binaryen) is loaded only when a policy is compiled.
  const { default: asc } = await import("assemblyscript/asc");
  const baseDir = dirname(resolve(entry));
  let diagnostics = "";
  const sink = { write: (text: string | Uint8Array) => ((diagnostics += String(text)), true) };
  const { error } = await asc.main(
    [resolve(entry), "--outFile", resolve(out), "--baseDir", baseDir, "--optimize", "--noColors", "--use", `abort=${ABORT}`],
    { stdout: sink, stderr: sink, readFile: readSource },
  );
  return error ? `${error.message}\n${diagnostics}`.trimEnd() : undefined;
}
