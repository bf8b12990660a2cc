import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The module of a built-in policy, compiled from `policies-wasm/builtins/<name>` by
 * `npm run build:policies` (run by `npm test`; `npm start` and packaging run it too).
 */
export function builtinModuleBytes(name: string): Uint8Array {
  const path = fileURLToPath(new URL(`../../policies-wasm/dist/builtins/${name}.wasm`, import.meta.url));
  try {
    return readFileSync(path);
  } catch {
    throw new Error(`the built-in policy "${name}" is not built (${path}); run npm run build:policies`);
  }
}
