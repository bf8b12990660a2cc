/**
 * Per-policy call cost (docs/design/performance.md: one policy call ≤ 2 µs median on Bun), in process: the empty
 * hook of the `counter` fixture on each runtime (bench/policy-call.ts: what the host adds to any
 * call), and the built-ins on Bun (bench/builtin-calls.ts: a real policy's work, exchange included).
 * Each probe is pinned to the gateway's CPU. The target is judged on `set-header`, the cheapest
 * real policy, since an empty hook would flatter it. Run by bench/run.ts.
 */
import { type Runtime, RUNTIMES } from "./lib/arms.ts";
import { type Bench, ROOT } from "./lib/context.ts";
import { runCapture } from "./lib/procs.ts";
import type { Measure, ScenarioResult } from "./lib/targets.ts";

function command(bench: Bench, runtime: Runtime, script: string): string[] {
  const run = { bun: [bench.bun], deno: [bench.deno, "run", "-A"], node: [bench.node, "--import", "tsx"] }[runtime];
  return [...bench.proxyPin, ...run, script];
}

async function capture(argv: string[]): Promise<string> {
  const { status, stdout, stderr } = await runCapture(argv, 300_000, { cwd: ROOT });
  if (status !== "0") throw new Error(`${argv.join(" ")} exited with ${status}: ${(stderr.trim() || stdout.trim()).slice(0, 1000)}`);
  return stdout;
}

/** Runs both probes and tabulates them; `quick`: the empty hook on Bun and set-header only. */
export async function policyCallsScenario(bench: Bench, { quick }: { quick: boolean }): Promise<ScenarioResult> {
  const rows: string[] = [];
  for (const runtime of quick ? (["bun"] as const) : RUNTIMES) {
    const line = (await capture(command(bench, runtime, "bench/policy-call.ts"))).trim().split("\n").at(-1)!;
    rows.push(line);
  }
  const builtins = (await capture([...command(bench, "bun", "bench/builtin-calls.ts"), ...(quick ? ["set-header"] : [])])).trim().split("\n").slice(1);
  const perBuiltin = builtins.map((l) => /^(\S+)\s+([\d.]+) µs$/.exec(l.trim())).filter((m): m is RegExpExecArray => m !== null);
  const setHeader = perBuiltin.find((m) => m[1] === "set-header");
  const measures: Measure[] = [];
  if (setHeader) measures.push({ target: "policy-call", value: `${setHeader[2]} µs (set-header on Bun)`, met: Number(setHeader[2]) <= 2 });
  const markdown = [
    "### One policy call, in process",
    "",
    "Empty hook (`counter` fixture) through Portico's Extism wrapper, median of 9 × 20,000 calls, with a direct call of the same export for reference:",
    "",
    "| runtime | via the host | direct export |",
    "|---|---|---|",
    ...rows,
    "",
    "Built-ins on Bun, `on_request` on a fresh small exchange (what the proxy builds per request), median of 9 × 20,000 calls after 3 warm-up batches:",
    "",
    "| policy | per call |",
    "|---|---|",
    ...perBuiltin.map((m) => `| ${m[1]} | ${m[2]} µs |`),
  ].join("\n");
  return { markdown, measures, failed: !setHeader };
}
