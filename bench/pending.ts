/**
 * The scenarios of issue 5 that cannot run yet, printed as n/a rows so that the report names every
 * DESIGN.md §5 target that nothing measures yet: the per-policy call cost of a real policy.
 */
import type { Measure, ScenarioResult } from "./lib/targets.ts";

const CALL = "n/a: an empty hook is measured by `bench/policy-call.ts` on each runtime; a real policy needs the ABI's host functions";

const ROWS: readonly [scenario: string, status: string][] = [
  ["Per-policy call cost (in-process micro-benchmark on Bun)", CALL],
];

/** The n/a table and the n/a measures for the targets nothing can measure yet. */
export function pendingScenario(): ScenarioResult {
  const markdown = ["### Not measurable yet", "", "| scenario | status |", "|---|---|", ...ROWS.map(([s, status]) => `| ${s} | ${status} |`)].join("\n");
  const measures: Measure[] = [
    { target: "policy-call", value: CALL, met: "n/a" },
  ];
  return { markdown, measures, failed: false };
}
