/** Summarising benchmark runs (medians, ratios) as a Markdown table. */
import type { WrkResult } from "./wrk.ts";
import { bareRuntime } from "./arms.ts";

/** One measured run of an arm in a round, with the CPU time its server used per request when known. */
export interface MeasuredRun extends WrkResult {
  /**
   * User + system CPU time of the arm's server process and its children per request, in µs; NaN
   * when it has none (direct) or /proc is unreadable.
   */
  readonly cpuUsPerRequest?: number;
}

/**
 * Every completed run of one arm, in round order, and why it stopped early if it did. Arms that
 * ran in the same rounds have their runs at the same positions (an arm that fails runs no more),
 * so runs at one index can be compared pairwise (`pairedRatio`).
 */
export interface ArmResult {
  readonly arm: string;
  /** What served the requests, with its version, e.g. `Bun 1.4.5`. */
  readonly runtime: string;
  readonly runs: readonly MeasuredRun[];
  readonly error?: string;
}

/**
 * The median over rounds of `arm`'s value against `base`'s in the same round (runs in round
 * order; rounds only one of them ran are left out). Pairing by round cancels the machine's drift
 * between rounds, which moves unpaired medians by more than the effects measured here.
 */
export function pairedRatio<R>(base: readonly R[], arm: readonly R[], read: (run: R) => number): number {
  const rounds = Math.min(base.length, arm.length);
  const ratios: number[] = [];
  for (let i = 0; i < rounds; i++) ratios.push(read(arm[i]!) / read(base[i]!));
  return median(ratios);
}

/** The median over rounds of `arm`'s value minus `base`'s in the same round (as `pairedRatio`). */
export function pairedDifference<R>(base: readonly R[], arm: readonly R[], read: (run: R) => number): number {
  const rounds = Math.min(base.length, arm.length);
  const differences: number[] = [];
  for (let i = 0; i < rounds; i++) differences.push(read(arm[i]!) - read(base[i]!));
  return median(differences);
}

/** `value / reference` as `1.23×`, or "–" when either is missing. */
export function formatRatio(value: number, reference: number): string {
  return Number.isFinite(value) && Number.isFinite(reference) && reference > 0 ? `${(value / reference).toFixed(2)}×` : "–";
}

/** The median requests/s of an arm's runs (NaN when it has none or is missing). */
export function medianRps(result: ArmResult | undefined): number {
  return result ? median(result.runs.map((r) => r.rps)) : NaN;
}

/** The median of `values` (mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Requests per second, e.g. `31,870`. */
export function formatRps(rps: number): string {
  return Number.isFinite(rps) ? Math.round(rps).toLocaleString("en-US") : "–";
}

/** A latency in microseconds, e.g. `184 µs` or `1.23 ms`. */
export function formatLatency(us: number): string {
  if (!Number.isFinite(us)) return "–";
  return us < 1000 ? `${Math.round(us)} µs` : `${(us / 1000).toFixed(2)} ms`;
}

function ratio(rps: number, reference: ArmResult | undefined): string {
  return formatRatio(rps, medianRps(reference));
}

function errors(runs: readonly WrkResult[], failure?: string): string {
  if (failure) return failure.split("\n")[0]!.slice(0, 100).replace(/\|/g, "\\|");
  const non2xx = runs.reduce((sum, r) => sum + r.non2xx, 0);
  const socket = runs.reduce((sum, r) => sum + r.socketErrors, 0);
  const parts = [non2xx ? `${non2xx} non-2xx` : "", socket ? `${socket} socket` : ""].filter(Boolean);
  return parts.length ? parts.join(", ") : "0";
}

/** The median of an arm's CPU time per request (NaN when no run has it). */
function medianCpu(runs: readonly MeasuredRun[]): number {
  return median(runs.map((r) => r.cpuUsPerRequest ?? NaN).filter(Number.isFinite));
}

/** A CPU time per request, e.g. `48.3 µs`, or "–". */
function formatCpu(us: number): string {
  return Number.isFinite(us) ? `${us.toFixed(1)} µs` : "–";
}

/**
 * The results as a Markdown table: median rps and median p50/p99 over the runs, ratios of medians
 * against the `direct` arm and (when present) the `nginx` and `peer` arms, each gateway against its
 * runtime's bare proxy (`bun` against `bun-bare`, when both ran) paired by round, in throughput and
 * in its server's CPU time per request (the bare proxy's CPU over the gateway's: what fraction of
 * the gateway's work per request the runtime alone needs), the median CPU time per request, each
 * run's rps and any errors wrk counted (or the arm's failure, e.g. the proxy crashed; an arm with
 * no completed run shows as failed).
 */
export function markdownTable(results: readonly ArmResult[]): string {
  const direct = results.find((r) => r.arm === "direct");
  const nginx = results.find((r) => r.arm === "nginx");
  const peer = results.find((r) => r.arm === "peer");
  const bare = results.some((r) => bareRuntime(r.arm));
  /** A gateway's runtime's bare proxy, when it ran. */
  const bareOf = (arm: string) => results.find((r) => bareRuntime(r.arm) === arm && r.runs.length);
  const header = [
    "arm",
    "runtime",
    "rps (median)",
    "p50",
    "p99",
    "CPU per request",
    "vs direct",
    ...(nginx ? ["vs nginx"] : []),
    ...(peer ? ["vs peer"] : []),
    ...(bare ? ["vs its runtime's bare proxy, paired", "bare's CPU / gateway's, paired"] : []),
    "runs (rps)",
    "errors",
  ];
  const lines = [`| ${header.join(" | ")} |`, `|${header.map((_, i) => (i < 2 ? "---" : "---:")).join("|")}|`];
  for (const r of results) {
    const rps = median(r.runs.map((run) => run.rps));
    const ceiling = bareOf(r.arm);
    const cells = !r.runs.length
      ? [
        r.arm,
        r.runtime,
        "failed",
        "–",
        "–",
        "–",
        "–",
        ...(nginx ? ["–"] : []),
        ...(peer ? ["–"] : []),
        ...(bare ? ["–", "–"] : []),
        "–",
        errors([], r.error ?? "no runs"),
      ]
      : [
        r.arm,
        r.runtime,
        formatRps(rps),
        formatLatency(median(r.runs.map((run) => run.p50us))),
        formatLatency(median(r.runs.map((run) => run.p99us))),
        formatCpu(medianCpu(r.runs)),
        ratio(rps, direct),
        ...(nginx ? [ratio(rps, nginx)] : []),
        ...(peer ? [ratio(rps, peer)] : []),
        ...(bare
          ? ceiling
            ? [
              formatRatio(pairedRatio(ceiling.runs, r.runs, (run) => run.rps), 1),
              formatRatio(pairedRatio(r.runs, ceiling.runs, (run) => run.cpuUsPerRequest ?? NaN), 1),
            ]
            : ["", ""]
          : []),
        r.runs.map((run) => formatRps(run.rps)).join(", "),
        errors(r.runs, r.error),
      ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

/** A Markdown table from a header row and rows of cells (the formatter pads it when it lands in bench/RESULTS.md). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [header, header.map(() => "---"), ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}
