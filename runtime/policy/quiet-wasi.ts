/**
 * Loads Node's `node:wasi` module without the one warning Node prints on stderr when that module
 * is first loaded ("ExperimentalWarning: WASI is an experimental feature and might change at any
 * time", plus a "(Use `node --trace-warnings ...`)" line).
 *
 * Why: the Extism SDK's Node build imports `wasi` at the top of its module, so every Portico
 * process on Node wrote those two non-JSON lines to stderr at start, although Portico never
 * enables WASI (plugins are made with `useWasi: false`, runtime/policy/extism.ts). Node warns once
 * per process, at the first load; loading it here first, holding back only that warning and only
 * while it loads, leaves every other warning (before, during and after) printed as usual. A
 * process-wide `--no-warnings` or `--disable-warning=ExperimentalWarning` would hide more than
 * this one, and would have to be passed by whoever starts Node. Bun and Deno do not warn; on them
 * this does nothing.
 */
import { createRequire } from "node:module";
import { detectRuntime } from "../server/detect.ts";

/** Whether a `process.emitWarning(warning, typeOrOptions)` call is Node's experimental-feature warning for WASI. */
export function isWasiExperimentalWarning(warning: unknown, typeOrOptions: unknown): boolean {
  const type = typeof typeOrOptions === "string" ? typeOrOptions : (typeOrOptions as { type?: string } | undefined)?.type;
  const name = warning instanceof Error ? warning.name : type;
  const text = typeof warning === "string" ? warning : warning instanceof Error ? warning.message : "";
  return name === "ExperimentalWarning" && text.startsWith("WASI ");
}

let loaded = false;

/**
 * On Node, loads `node:wasi` (once) with its experimental-feature warning held back; call it before
 * importing the Extism SDK. Elsewhere, does nothing.
 */
export function loadNodeWasiQuietly(): void {
  if (loaded || detectRuntime() !== "node") return;
  loaded = true;
  const emitWarning = process.emitWarning;
  process.emitWarning = function (warning: unknown, ...rest: unknown[]): void {
    if (isWasiExperimentalWarning(warning, rest[0])) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    createRequire(import.meta.url)("node:wasi");
  } finally {
    process.emitWarning = emitWarning;
  }
}
