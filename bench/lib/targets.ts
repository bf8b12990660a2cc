/**
 * The targets of docs/design/performance.md (the performance budget) and the final table that puts each next to
 * what this run measured: met, not met, or n/a (not measurable yet, or its scenario did not run).
 */

/** Every target, in the order docs/design/performance.md lists them; the keys scenarios report measures under. */
const TARGETS = {
  "bun-nginx-0": "Bun, no policies, hello world: ≥ 0.8 × nginx throughput",
  "bun-nginx-1k": "Bun, no policies, 1 KiB body: ≥ 0.8 × nginx throughput",
  "wasm-nginx": "Bun, 5 WASM policies: ≥ 0.6 × nginx throughput",
  "peer-bun": "Bun: ≥ 3 × `@fastify/http-proxy` throughput",
  "peer-deno": "Deno: ≥ 3 × `@fastify/http-proxy` throughput",
  "peer-node": "Node: ≥ 3 × `@fastify/http-proxy` throughput",
  "bare-bun": "Bun, no policies, JSON access log on: ≥ 0.85 × the bare Bun proxy (paired by round)",
  "bare-deno": "Deno, no policies, JSON access log on: ≥ 0.85 × the bare Deno proxy (paired by round)",
  "bare-node": "Node, no policies, JSON access log on: ≥ 0.80 × the bare Node proxy (paired by round)",
  "chain-5": "Bun, 5 policies: ≥ 0.80 × no policies",
  "chain-10": "Bun, 10 policies: ≥ 0.65 × no policies",
  "latency-p50-bun": "Bun: added p50 at 5k rps ≤ 150 µs over direct",
  "latency-p99-bun": "Bun: added p99 at 5k rps ≤ 1 ms over direct",
  "latency-p50-deno": "Deno: added p50 at 5k rps ≤ 150 µs over direct",
  "latency-p99-deno": "Deno: added p99 at 5k rps ≤ 1 ms over direct",
  "latency-p50-node": "Node: added p50 at 5k rps ≤ 150 µs over direct",
  "latency-p99-node": "Node: added p99 at 5k rps ≤ 1 ms over direct",
  "policy-call": "one policy call ≤ 2 µs median on Bun",
  "compile-10k": "10,000 APIs × 3 policies: validate + compile + swap ≤ 1 s",
  "swaps-failed": "100 swaps under load: 0 failed requests",
  "swaps-p99": "100 swaps under load: p99 during swaps ≤ 1.2 × steady",
  "rss-idle": "idle RSS ≤ 60 MB (Bun, x64)",
  "rss-growth": "RSS growth ≤ 5 % over 10,000 configuration swaps",
  "backup-start": "start from backup to first served request ≤ 300 ms",
} as const;

/** The key of a target of docs/design/performance.md. */
export type TargetId = keyof typeof TARGETS;

/** Whether a measured value meets its target; "n/a" when it cannot say (e.g. measured without policies). */
export type Verdict = boolean | "n/a";

/** One measured value for a target. Several measures of one target (e.g. two body sizes) are joined. */
export interface Measure {
  readonly target: TargetId;
  readonly value: string;
  readonly met: Verdict;
}

/** What a scenario hands back: its Markdown section, its measures, and whether something failed. */
export interface ScenarioResult {
  readonly markdown: string;
  readonly measures: readonly Measure[];
  readonly failed: boolean;
}

function verdict(verdicts: readonly Verdict[]): string {
  if (verdicts.includes(false)) return "not met";
  if (verdicts.length && verdicts.every((v) => v === true)) return "met";
  return "n/a";
}

/** The final table: every target, the measured value(s) (joined with "; "), and the verdict. */
export function targetsTable(measures: readonly Measure[]): string {
  const lines = ["| target (docs/design/performance.md) | measured | verdict |", "|---|---|---|"];
  for (const [id, text] of Object.entries(TARGETS)) {
    const mine = measures.filter((m) => m.target === id);
    const value = mine.length ? mine.map((m) => m.value).join("; ") : "not run";
    lines.push(`| ${text} | ${value.replace(/\|/g, "\\|")} | ${verdict(mine.map((m) => m.met))} |`);
  }
  return lines.join("\n");
}
