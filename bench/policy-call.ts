/**
 * Per-policy call cost, in process, on the runtime that runs it:
 * `bun bench/policy-call.ts`, `deno run -A bench/policy-call.ts`, `node --import tsx bench/policy-call.ts`.
 * Uses the `counter` fixture (an empty hook) built by `npm run build:policies`. Prints the median of
 * 9 batches of 20,000 calls through Portico's Extism wrapper, and, for reference, a direct call
 * of the same export on a plain WebAssembly instance (what Extism's own wrapping costs on top).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PolicyModuleCache, PolicyPlugin } from "../runtime/policy/extism.ts";
import { detectRuntime } from "../runtime/server/detect.ts";

const BATCH = 20_000;
const BATCHES = 9;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

async function perCall(call: () => unknown | Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let b = 0; b < BATCHES + 1; b++) {
    const started = performance.now();
    for (let i = 0; i < BATCH; i++) {
      const result = call();
      if (result instanceof Promise) await result;
    }
    if (b > 0) samples.push(((performance.now() - started) * 1000) / BATCH);
  }
  return median(samples);
}

const bytes = readFileSync(fileURLToPath(new URL("../policies-wasm/dist/fixtures/counter.wasm", import.meta.url)));
const compiled = await new PolicyModuleCache().compile(bytes);
const plugin = await PolicyPlugin.create(compiled);
const viaHost = await perCall(() => plugin.call("on_request"));
await plugin.close();
const direct = new WebAssembly.Instance(compiled.module, {}).exports.on_request as () => number;
const viaExport = await perCall(direct);
const versions = process.versions as Record<string, string | undefined>;
const runtime = detectRuntime();
const version = runtime === "bun" ? versions.bun : runtime === "deno" ? versions.deno : versions.node;
process.stdout.write(`| ${runtime} ${version} | ${viaHost.toFixed(2)} µs | ${(viaExport * 1000).toFixed(0)} ns |\n`);
