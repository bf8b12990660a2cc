/**
 * In-process timing of a configuration change on Bun: `bun bench/probes/compile.ts APIS REPS`.
 * Each repetition loads generated YAML (parse, validate and build the snapshot, `snapshotFromText`),
 * then compiles it and makes it live (`PipelineHolder.apply`), as the gateway does when its file
 * changes. Validation alone (`validateConfig` on the already parsed document) is timed too, to split
 * parse from validate, and so is the same configuration as JSON (`snapshotFromJson`, what a gateway
 * does with a control plane's view). One discarded repetition first (JIT). Prints one JSON line of per-repetition ms.
 */
import { parseDocument } from "yaml";
import { validateConfig } from "../../config/schema/validate.ts";
import { snapshotFromJson, snapshotFromText } from "../../config/snapshot/build.ts";
import { PipelineHolder } from "../../runtime/pipeline/pipeline.ts";
import { generatedConfig } from "../lib/generate.ts";

const apis = Number(process.argv[2]);
const reps = Number(process.argv[3]);
const text = generatedConfig(apis, 9000, true);
const parsed: unknown = parseDocument(text).toJS();
// What a control plane sends the same configuration as: JSON.
const json = JSON.stringify(parsed);
const result = {
  apis,
  bytes: text.length,
  loadMs: [] as number[],
  validateMs: [] as number[],
  applyMs: [] as number[],
  jsonLoadMs: [] as number[],
  jsonApplyMs: [] as number[],
};

for (let rep = 0; rep <= reps; rep++) {
  const t0 = performance.now();
  const loaded = snapshotFromText(text, "generated.yaml");
  const t1 = performance.now();
  if (!loaded.ok) throw new Error(`generated configuration is invalid: ${JSON.stringify(loaded.problems.slice(0, 3))}`);
  // A fresh holder each time: the first configuration a gateway compiles, every instance made anew.
  await new PipelineHolder().apply(loaded.snapshot);
  const t2 = performance.now();
  if (!validateConfig(parsed).ok) throw new Error("generated configuration did not validate");
  const t3 = performance.now();
  const fromJson = snapshotFromJson(json, "generated.json");
  const t4 = performance.now();
  if (!fromJson.ok) throw new Error("generated JSON did not validate");
  await new PipelineHolder().apply(fromJson.snapshot);
  const t5 = performance.now();
  if (rep === 0) continue; // warm-up
  result.loadMs.push(t1 - t0);
  result.applyMs.push(t2 - t1);
  result.validateMs.push(t3 - t2);
  result.jsonLoadMs.push(t4 - t3);
  result.jsonApplyMs.push(t5 - t4);
}
process.stdout.write(`${JSON.stringify(result)}\n`);
