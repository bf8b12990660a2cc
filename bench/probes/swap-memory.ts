/**
 * RSS over many configuration swaps, in-process on Bun: `bun bench/probes/swap-memory.ts SWAPS APIS`.
 * Loads a generated configuration once, applies it 1,000 times (warm-up: JIT, allocator pools),
 * forces a full GC twice 200 ms apart (so that freed pages go back) and reads RSS; then applies
 * the same parsed configuration SWAPS times through one `PipelineHolder` (each apply compiles a
 * new pipeline and drops the old one), settles GC the same way and reads RSS again.
 * Prints one JSON line.
 */
import { snapshotFromText } from "../../config/snapshot/build.ts";
import { PipelineHolder } from "../../runtime/pipeline/pipeline.ts";
import { generatedConfig } from "../lib/generate.ts";

const swaps = Number(process.argv[2]);
const apis = Number(process.argv[3]);
const loaded = snapshotFromText(generatedConfig(apis), "generated.yaml");
if (!loaded.ok) throw new Error(`generated configuration is invalid: ${JSON.stringify(loaded.problems.slice(0, 3))}`);
const holder = new PipelineHolder();

const gc = () => (typeof Bun !== "undefined" ? Bun.gc(true) : (globalThis as { gc?: () => void }).gc?.());
const memory = async () => {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 200));
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
};

for (let i = 0; i < 1000; i++) await holder.apply(loaded.snapshot);
const before = await memory();
const start = performance.now();
for (let i = 0; i < swaps; i++) await holder.apply(loaded.snapshot);
const ms = performance.now() - start;
const after = await memory();
process.stdout.write(`${JSON.stringify({ swaps, apis, before, after, msPerSwap: ms / swaps, forcedGc: typeof Bun !== "undefined" || "gc" in globalThis })}\n`);
