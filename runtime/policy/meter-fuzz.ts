/**
 * Longer differential fuzzing runs of the metering rewriter (`meter.ts`) than the one in
 * `npm test` (`meter-fuzz_test.ts`), on any runtime:
 *
 *   bun runtime/policy/meter-fuzz.ts --seed 1 --count 20000
 *   deno run -A runtime/policy/meter-fuzz.ts --seed 1 --count 20000
 *   node --import tsx runtime/policy/meter-fuzz.ts --seed 1 --count 20000
 *
 * Options: `--seed N` (first case seed, default: from the clock, printed), `--count M` (modules,
 * default 1000), `--pages P` (the memory cap in 64 KiB pages, default 256). Case i uses seed
 * N + i, so a failing case is rerun alone with `--seed <its seed> --count 1`. On a failure it
 * prints the case's seed, the property that failed and the input, shrinks the program, writes the
 * reproduction (.wasm and .wat) to a temporary folder, and exits with status 1.
 * See runtime/policy/fuzz/differential.ts for the properties checked.
 */
import { DEFAULT_CHECK, reproduce, runCampaign } from "./fuzz/campaign.ts";

function option(name: string): string | undefined {
  const args = process.argv.slice(2);
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
}

function integer(name: string, fallback: number): number {
  const text = option(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} takes a non-negative integer, not ${text}`);
  return value;
}

const seed = integer("seed", Date.now() % 0x1_0000_0000);
const count = integer("count", 1000);
const options = { ...DEFAULT_CHECK, capPages: integer("pages", DEFAULT_CHECK.capPages) };
console.log(`meter fuzz: seed ${seed}, ${count} modules, memory cap ${options.capPages} pages`);
let lastReport = performance.now();
const result = runCampaign(seed, count, options, (done) => {
  if (performance.now() - lastReport < 10_000) return;
  lastReport = performance.now();
  console.log(`  ${done} modules checked`);
});
const { stats } = result;
console.log(
  `meter fuzz: ${result.modules} modules, ${stats.calls} calls (${stats.traps} trapped in the original, ${stats.steps} steps), ` +
    `${stats.fuelTraps} runs stopped for fuel, in ${(result.ms / 1000).toFixed(1)} s`,
);
for (const [error, n] of Object.entries(stats.trapKinds).sort((a, b) => b[1] - a[1])) console.log(`  ${n} × ${error}`);
if (result.failed) {
  console.log(reproduce(result.failed, options));
  process.exit(1);
}
console.log("meter fuzz: no failure");
