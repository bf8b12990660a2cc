/**
 * Debian's Prometheus in tests (`apt-get install prometheus`, done by .ci/run): `promtool check
 * metrics` on a scrape, and a real `prometheus` server scraping a gateway's management port every
 * second, queried through its HTTP API.
 */
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, tempDir } from "./harness.ts";

const MISSING = "is not installed: apt-get install -y prometheus (Debian's package has prometheus and promtool; .ci/run installs it)";

/** `promtool check metrics` on Prometheus text: its exit code and what it printed (lint problems). */
export function promtoolCheckMetrics(text: string): { code: number | null; output: string } {
  const result = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  if (result.error) throw new Error(`promtool ${MISSING} (${result.error.message})`);
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A Prometheus server under test. */
export interface PrometheusServer {
  /** `http://127.0.0.1:PORT` of its web listener (and HTTP API). */
  readonly url: string;
  /** An instant query (`/api/v1/query`): the vector's samples as labels and value. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: number }[]>;
  /**
   * `sum by (LABEL) (METRIC)` now, as a map from the label's value to the sum: one line in a test
   * reads a metric by an attribute, e.g. a histogram's `_count` or `_bucket` by `api` or `policy`.
   */
  sumBy(metric: string, label: string): Promise<Map<string, number>>;
  /** Polls `sumBy` until `check` accepts its result (or fails after the timeout, saying what it last saw). */
  waitForSumBy(metric: string, label: string, check: (sums: Map<string, number>) => boolean, timeoutMs?: number): Promise<Map<string, number>>;
  /** Everything it wrote. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `prometheus` with a temporary configuration and data directory, scraping `targets`
 * (host:port, the `/metrics` path) every second, its web listener on a free loopback port; resolves
 * once it is ready.
 */
export async function startPrometheus(targets: readonly string[], timeoutMs = 30_000): Promise<PrometheusServer> {
  const dir = tempDir();
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    `global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: portico
    static_configs: [ { targets: ${JSON.stringify(targets)} } ]
`,
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn("prometheus", [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.on("error", (error) => {
      output += `\nprometheus ${MISSING} (${error.message})`;
      exited = true;
      resolve();
    });
    child.on("exit", () => {
      exited = true;
      resolve();
    });
  });
  const stop = async (): Promise<void> => {
    if (!exited) child.kill("SIGTERM");
    await exit;
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) throw new Error(`prometheus exited during start-up:\n${output}`);
    const ready = await fetch(`${url}/-/ready`).then((r) => r.text().then(() => r.status), () => 0);
    if (ready === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const query: PrometheusServer["query"] = async (promql) => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== "success" || body.data?.resultType !== "vector") throw new Error(`query ${promql} failed: ${JSON.stringify(body)}`);
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };
  const sumBy: PrometheusServer["sumBy"] = async (metric, label) => {
    const samples = await query(`sum by (${label}) (${metric})`);
    return new Map(samples.map((s) => [s.metric[label] ?? "", s.value]));
  };
  return {
    url,
    query,
    sumBy,
    async waitForSumBy(metric, label, check, waitMs = 15_000) {
      const until = Date.now() + waitMs;
      for (;;) {
        const sums = await sumBy(metric, label);
        if (check(sums)) return sums;
        if (Date.now() > until) throw new Error(`sum by (${label}) (${metric}) is still ${JSON.stringify([...sums])} after ${waitMs} ms`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    output: () => output,
    stop,
  };
}
