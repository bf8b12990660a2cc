import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Built-in modules embedded in a compiled binary: policy name → path of the embedded file. */
const embedded = new Map<string, string>();

/**
 * Makes the built-in policy modules come from files embedded in a compiled binary instead of
 * `policies-wasm/dist/builtins/`. The binary's generated entry point (deploy/binary/build.ts)
 * imports each module with Bun's `with { type: "file" }` and passes the paths it gets here before
 * the CLI starts; runs from source (Bun, Deno, Node) never call it.
 */
export function embedBuiltinModules(paths: Readonly<Record<string, string>>): void {
  for (const [name, path] of Object.entries(paths)) embedded.set(name, path);
}

/**
 * The module of a built-in policy: embedded in a compiled binary, or compiled from
 * `policies-wasm/builtins/<name>` by `npm run build:policies` (run by `npm test`; `npm start` and
 * `npm run build:binary` run it too).
 */
export function builtinModuleBytes(name: string): Uint8Array {
  const inBinary = embedded.size > 0;
  const path = embedded.get(name) ?? fileURLToPath(new URL(`../../policies-wasm/dist/builtins/${name}.wasm`, import.meta.url));
  try {
    return readFileSync(path);
  } catch {
    if (inBinary) throw new Error(`the built-in policy "${name}" is not embedded in this binary (embedded: ${[...embedded.keys()].join(", ")})`);
    throw new Error(`the built-in policy "${name}" is not built (${path}); run npm run build:policies`);
  }
}
