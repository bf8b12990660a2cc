/** Options shared by the scenarios: `--quick` and explicit overrides of durations and run counts. */

/** What every scenario is given; an explicit value wins over the scenario's quick or full default. */
export interface RunOptions {
  /** Tiny durations: proves the scenario works, measures little. */
  readonly quick: boolean;
  /** Seconds per measured run. */
  readonly duration?: number;
  /** Measured runs per arm (medians are reported). */
  readonly runs?: number;
  /** Seconds of discarded load before measuring. */
  readonly warmup?: number;
}

/** `explicit` when given, else `quick` or `full` depending on `opts.quick`. */
export function pick(opts: RunOptions, explicit: number | undefined, quick: number, full: number): number {
  return explicit ?? (opts.quick ? quick : full);
}

/** Parses a whole number ≥ `min` from option `--name` (a trailing "s" is allowed); undefined stays undefined. */
export function wholeNumber(name: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw.replace(/s$/, ""));
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected a whole number ≥ ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
