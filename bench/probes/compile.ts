/**
 * In-process timing of a configuration change on Bun: `bun bench/probes/compile.ts APIS REPS`.
 * Each repetition loads generated YAML (parse + validate, `loadConfigText`), then compiles it and
 * makes it live (`PipelineHolder.apply`), as the gateway does when its file changes. Validation
 * alone (`validateConfig` on the already parsed document) is timed too, to split parse from
 * validate. One discarded repetition first (JIT). Prints one JSON line of per-repetition ms.
 */
import { parseDocument } from "yaml";
import { loadConfigText } from "../../config/load.ts";
import { validateConfig } from "../../config/schema/validate.ts";
import { PipelineHolder } from "../../runtime/pipeline/pipeline.ts";
import { generatedConfig } from "../lib/generate.ts";

const apis = Number(process.argv[2]);
const reps = Number(process.argv[3]);
const text = generatedConfig(apis, 9000, true);
const parsed: unknown = parseDocument(text).toJS();
const result = { apis, bytes: text.length, loadMs: [] as number[], validateMs: [] as number[], applyMs: [] as number[] };

for (let rep = 0; rep <= reps; rep++) {
  const t0 = performance.now();
  const loaded = loadConfigText(text, "generated.yaml");
  const t1 = performance.now();
  if (!loaded.ok) throw new Error(`generated configuration is invalid: ${JSON.stringify(loaded.problems.slice(0, 3))}`);
  // A fresh holder each time: the first configuration a gateway compiles, every instance made anew.
  await new PipelineHolder().apply(loaded.config, loaded.hash);
  const t2 = performance.now();
  if (!validateConfig(parsed).ok) throw new Error("generated configuration did not validate");
  const t3 = performance.now();
  if (rep === 0) continue; // warm-up
  result.loadMs.push(t1 - t0);
  result.applyMs.push(t2 - t1);
  result.validateMs.push(t3 - t2);
}
process.stdout.write(`${JSON.stringify(result)}\n`);
