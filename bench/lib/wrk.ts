/** Running wrk (closed-loop HTTP/1.1 load) and reading its text report. */
import { runCapture, startCapture } from "./procs.ts";

/** What one wrk run measured. */
export interface WrkResult {
  readonly rps: number;
  /** Latency percentiles in microseconds (from `--latency`). */
  readonly p50us: number;
  readonly p99us: number;
  readonly requests: number;
  /** Responses with a status outside 2xx/3xx. */
  readonly non2xx: number;
  /** connect + read + write + timeout errors. */
  readonly socketErrors: number;
}

/** How to run wrk. */
export interface WrkOptions {
  readonly wrk: string;
  readonly url: string;
  readonly seconds: number;
  readonly connections: number;
  readonly threads: number;
  /** Prefix such as `["taskset", "-c", "1"]`, or empty. */
  readonly pin: readonly string[];
  /** Request headers sent with every request (`name: value`). */
  readonly headers?: readonly string[];
}

const UNIT_US: Record<string, number> = { us: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 };

function durationUs(value: string, unit: string): number {
  return Number(value) * (UNIT_US[unit] ?? NaN);
}

/** Parses wrk's report (run with `--latency`); throws naming what is missing. */
function parseWrk(text: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const p50 = /^\s*50%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(text);
  const p99 = /^\s*99%\s+([\d.]+)(us|ms|s|m|h)\s*$/m.exec(text);
  const requests = /(\d+) requests in/.exec(text);
  if (!rps || !p50 || !p99 || !requests) throw new Error(`cannot read wrk output:\n${text}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    rps: Number(rps[1]),
    p50us: durationUs(p50[1]!, p50[2]!),
    p99us: durationUs(p99[1]!, p99[2]!),
    requests: Number(requests[1]),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0),
    socketErrors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}

function argvOf(opts: WrkOptions): string[] {
  const headers = (opts.headers ?? []).flatMap((h) => ["-H", h]);
  return [...opts.pin, opts.wrk, `-t${opts.threads}`, `-c${opts.connections}`, `-d${opts.seconds}s`, "--latency", ...headers, opts.url];
}

/** Runs wrk once against `url` and parses its report. */
export async function runWrk(opts: WrkOptions): Promise<WrkResult> {
  const { status, stdout, stderr } = await runCapture(argvOf(opts), (opts.seconds + 15) * 1000);
  if (status !== "0") throw new Error(`wrk exited with ${status}: ${stderr.trim() || stdout.trim()}`);
  return parseWrk(stdout);
}

/**
 * Starts wrk for at most `opts.seconds`; `stop()` interrupts it (SIGINT: wrk then prints its report
 * for the time it ran) and parses the report; calling it again returns the same result. Used when
 * a run must last as long as something else.
 */
export function startWrk(opts: WrkOptions): { stop(): Promise<WrkResult> } {
  const running = startCapture(argvOf(opts), (opts.seconds + 15) * 1000);
  let stopped: Promise<WrkResult> | undefined;
  return {
    stop() {
      if (!stopped) {
        running.interrupt();
        stopped = running.done.then(({ stdout, stderr }) => parseWrk(`${stdout}\n${stderr}`));
      }
      return stopped;
    },
  };
}
