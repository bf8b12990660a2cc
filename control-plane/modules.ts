import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { contentHash } from "../config/load.ts";
import { writeFileAtomic } from "../config/atomic-file.ts";

const DIGEST = /^[0-9a-f]{64}$/;

/**
 * Policy modules stored by their sha256, so that gateways fetch exactly the bytes a configuration
 * names and can check them. Files are `STATE/modules/<sha256>.wasm`, written once and never changed.
 */
export class ModuleStore {
  constructor(readonly dir: string) {}

  #file(digest: string): string {
    if (!DIGEST.test(digest)) throw new Error(`not a sha256 digest: ${JSON.stringify(digest)}`);
    return join(this.dir, `${digest}.wasm`);
  }

  /** Stores a module (if not stored already) and returns its digest. */
  put(bytes: Uint8Array): string {
    const digest = contentHash(bytes);
    if (!this.has(digest)) writeFileAtomic(this.#file(digest), bytes, 0o644);
    return digest;
  }

  /** Whether a module with this digest is stored. */
  has(digest: string): boolean {
    return DIGEST.test(digest) && existsSync(this.#file(digest));
  }

  /** The stored bytes for a digest, or undefined. */
  get(digest: string): Uint8Array<ArrayBuffer> | undefined {
    if (!DIGEST.test(digest)) return undefined;
    try {
      return readFileSync(this.#file(digest));
    } catch {
      return undefined;
    }
  }
}

/**
 * Why bytes cannot be a Portico policy module, or undefined if they look like one: a valid
 * WebAssembly module that exports `portico_abi_version`. The ABI version itself is checked by the
 * gateway when it instantiates the module.
 */
export function moduleShapeProblem(bytes: Uint8Array<ArrayBuffer>): string | undefined {
  if (!WebAssembly.validate(bytes)) return "not a WebAssembly module";
  const exports = WebAssembly.Module.exports(new WebAssembly.Module(bytes));
  if (!exports.some((e) => e.name === "portico_abi_version" && e.kind === "function")) {
    return "not a Portico policy: the module does not export portico_abi_version";
  }
  return undefined;
}
