/** Running bench/probes/autocannon.ts (fixed-rate load on Node) and reading its result. */
import { join } from "node:path";
import { type Bench, ROOT } from "./context.ts";
import { runCapture } from "./procs.ts";

/** What one fixed-rate run measured; latencies in microseconds. */
export interface AutocannonResult {
  readonly requests: number;
  /** Achieved requests per second (it falls short of the rate when the arm is too slow). */
  readonly rps: number;
  readonly p50us: number;
  readonly p90us: number;
  readonly p99us: number;
  readonly maxUs: number;
  readonly non2xx: number;
  /** Connection errors and timeouts. */
  readonly errors: number;
  /** Share (0–1) of 10 ms slots in which responses arrived: 1 for evenly spread load. */
  readonly spread: number;
}

/** How to run autocannon. */
export interface AutocannonOptions {
  readonly url: string;
  /** `-R`: requests per second over all connections. */
  readonly rate: number;
  readonly connections: number;
  readonly seconds: number;
  /** Seconds of discarded load first, in the same process. */
  readonly warmup: number;
}

/** Runs the probe on Node pinned with `bench.loadPin`, and parses its JSON line. */
export async function runAutocannon(bench: Bench, opts: AutocannonOptions): Promise<AutocannonResult> {
  const argv = [
    ...bench.loadPin,
    bench.node,
    "--import",
    "tsx",
    join(ROOT, "bench/probes/autocannon.ts"),
    opts.url,
    ...[opts.rate, opts.connections, opts.seconds, opts.warmup].map(String),
  ];
  const { status, stdout, stderr } = await runCapture(argv, (opts.seconds + opts.warmup + 30) * 1000, { cwd: ROOT });
  const line = stdout.trim().split("\n").at(-1) ?? "";
  if (status !== "0" || !line.startsWith("{")) throw new Error(`autocannon probe exited with ${status}: ${(stderr.trim() || stdout.trim()).slice(0, 2000)}`);
  return JSON.parse(line) as AutocannonResult;
}
