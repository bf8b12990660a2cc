/** Running h2load (closed-loop HTTP/2 load, Debian package nghttp2-client) and reading its report. */
import { runCapture } from "./procs.ts";

/** What one h2load run measured. */
export interface H2loadResult {
  readonly rps: number;
  readonly requests: number;
  /** Requests that got a response with a 2xx or 3xx status. */
  readonly succeeded: number;
  /** Failed (no response, or a 4xx/5xx status) and errored requests, and connections that failed. */
  readonly errors: number;
}

/** How to run h2load: `connections` × `streams` requests in flight for `seconds`. */
export interface H2loadOptions {
  readonly h2load: string;
  readonly url: string;
  readonly seconds: number;
  readonly connections: number;
  /** Concurrent streams per connection (`-m`). */
  readonly streams: number;
  /** Prefix such as `["taskset", "-c", "1"]`, or empty. */
  readonly pin: readonly string[];
}

/** Parses h2load's report; throws naming what is missing. */
export function parseH2load(text: string): H2loadResult {
  const rps = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(text);
  const requests = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
  const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  if (!rps || !requests || !status) throw new Error(`cannot read h2load output:\n${text}`);
  const [, total, succeeded, failed, errored, timeout] = requests.map(Number);
  const bad = Number(status[3]) + Number(status[4]);
  return { rps: Number(rps[1]), requests: total!, succeeded: succeeded! - bad, errors: failed! + errored! + timeout! + bad };
}

/** Runs h2load once against `url` (one thread; h2 by ALPN for `https://`, prior knowledge for `http://`). */
export async function runH2load(opts: H2loadOptions): Promise<H2loadResult> {
  const argv = [...opts.pin, opts.h2load, "-t1", `-c${opts.connections}`, `-m${opts.streams}`, `-D${opts.seconds}`, opts.url];
  const { status, stdout, stderr } = await runCapture(argv, (opts.seconds + 15) * 1000);
  if (status !== "0") throw new Error(`h2load exited with ${status}: ${stderr.trim() || stdout.trim()}`);
  return parseH2load(stdout);
}
