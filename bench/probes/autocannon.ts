/**
 * Fixed-rate load with autocannon (`-R`), run on Node as a child of bench/latency.ts:
 * `node --import tsx bench/probes/autocannon.ts URL RATE CONNECTIONS SECONDS WARMUP_SECONDS`.
 * Prints one JSON line (`AutocannonResult` of bench/lib/autocannon.ts).
 *
 * autocannon's own latency histogram has whole-millisecond resolution, too coarse for a 150 µs
 * budget, so this records every response's time (float ms from hrtime, as autocannon measures it)
 * and computes the percentiles itself. It also records when responses arrived, to show how evenly
 * the load was spread: autocannon's rate limit gives each connection a per-second quota that it
 * sends back to back, so "5,000 rps" arrives as bursts at the start of each second.
 */
import { createRequire } from "node:module";

interface Instance {
  on(event: "response", handler: (client: unknown, status: number, bytes: number, ms: number) => void): void;
}
type Autocannon = (opts: Record<string, unknown>, done: (error: Error | null, result: { errors: number; timeouts: number }) => void) => Instance;
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

const [url, rate, connections, seconds, warmup] = [process.argv[2]!, ...process.argv.slice(3, 7).map(Number)] as [string, number, number, number, number];

function run(duration: number, record: boolean): Promise<{ latencies: number[]; arrivals: number[]; non2xx: number; errors: number; elapsed: number }> {
  const latencies: number[] = [];
  const arrivals: number[] = [];
  let non2xx = 0;
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon({ url, connections, overallRate: rate, duration }, (error, result) => {
      if (error) return reject(error);
      resolve({ latencies, arrivals, non2xx, errors: result.errors + result.timeouts, elapsed: (performance.now() - start) / 1000 });
    });
    instance.on("response", (_client, status, _bytes, ms) => {
      if (status < 200 || status > 299) non2xx++;
      if (!record) return;
      latencies.push(ms * 1000);
      arrivals.push(performance.now() - start);
    });
  });
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]! : NaN;
}

if (warmup > 0) await run(warmup, false);
const r = await run(seconds, true);
const sorted = r.latencies.sort((a, b) => a - b);
// Share of 10 ms slots in which at least one response arrived: 100 % for evenly spread load.
const slots = new Set(r.arrivals.map((t) => Math.floor(t / 10)));
const result = {
  requests: sorted.length,
  rps: sorted.length / r.elapsed,
  p50us: percentile(sorted, 50),
  p90us: percentile(sorted, 90),
  p99us: percentile(sorted, 99),
  maxUs: sorted.at(-1) ?? NaN,
  non2xx: r.non2xx,
  errors: r.errors,
  spread: slots.size / Math.max(1, Math.ceil((r.elapsed * 1000) / 10)),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
