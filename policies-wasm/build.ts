/**
 * Compiles every policy written with the AssemblyScript SDK to WebAssembly: each folder under
 * `policies-wasm/fixtures/` and `policies-wasm/builtins/` with an `index.ts` becomes
 * `policies-wasm/dist/<group>/<name>.wasm`. Binaries are never committed; `npm test` and
 * `npm start` run this first. Usage: `bun policies-wasm/build.ts`.
 */
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import asc from "assemblyscript/asc";

const ROOT = fileURLToPath(new URL(".", import.meta.url));
// Paths given to the compiler (and the `--use abort=` element path) are relative to the repository.
process.chdir(join(ROOT, ".."));
const GROUPS = ["fixtures", "builtins"];
/** The SDK's trap-only `abort`, so modules import nothing the host does not define. */
const ABORT = "policies-wasm/sdk/abort/portico_abort";

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
      const entry = join(dir, name, "index.ts");
      if (existsSync(entry)) found.push({ entry, out: join(ROOT, "dist", group, `${name}.wasm`) });
    }
  }
  return found;
}

/** Compiles one target; resolves to the compiler's diagnostics when it fails. */
async function compile({ entry, out }: Target): Promise<string | undefined> {
  mkdirSync(join(out, ".."), { recursive: true });
  let diagnostics = "";
  const sink = { write: (text: string | Uint8Array) => ((diagnostics += String(text)), true) };
  const { error } = await asc.main(
    [relative(process.cwd(), entry), "--outFile", relative(process.cwd(), out), "--optimize", "--use", `abort=${ABORT}`],
    { stdout: sink, stderr: sink },
  );
  return error ? `${error.message}\n${diagnostics}` : undefined;
}

const failures: string[] = [];
for (const target of targets()) {
  const problem = await compile(target);
  if (problem) failures.push(`${relative(process.cwd(), target.entry)}: ${problem}`);
  else process.stdout.write(`built ${relative(process.cwd(), target.out)}\n`);
}
if (failures.length) {
  process.stderr.write(failures.join("\n"));
  process.exit(1);
}
