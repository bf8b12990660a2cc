#!/usr/bin/env node
// The installed `portico` command: runs the CLI on Bun (the primary runtime), which comes with the package.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const cli = fileURLToPath(new URL("../runtime/cli.ts", import.meta.url));
let bun = "bun";
try {
  bun = require.resolve("bun/bin/bun.exe");
} catch {
  // fall back to a Bun on PATH
}
const child = spawn(bun, [cli, ...process.argv.slice(2)], { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("error", (error) => {
  process.stderr.write(`portico: cannot start Bun (${error.message})\n`);
  process.exit(1);
});
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
