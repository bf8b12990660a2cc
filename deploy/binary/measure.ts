/**
 * Size, start-up time and idle memory of the compiled binaries, for bench/RESULTS.md:
 * `bun deploy/binary/measure.ts [--runs N]` (default 5). Builds the binaries first if they are
 * stale. Each run starts the binary from an empty directory on the quickstart configuration and
 * records the time from spawning it to the first 200 from `/readyz` and to the first response
 * served through its WebAssembly policies, then its RSS after 2 s idle. The linux-arm64 binary
 * runs under qemu-aarch64-static, so its figures (the emulator's RSS included) are informative only.
 */
import { parseArgs } from "node:util";
import { ensureBinaries, type Platform } from "./build.ts";
import { startQuickstart } from "./launch.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "5" } } });
const runs = Number(values.runs);
const build = ensureBinaries();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

const rows: string[] = [];
for (const platform of Object.keys(build.binaries) as Platform[]) {
  const ready: number[] = [];
  const firstRequest: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < runs; i++) {
    const gateway = await startQuickstart(platform, 120_000);
    try {
      const res: Response = await fetch(`${gateway.url}/echo/hello`);
      await res.body?.cancel();
      if (res.status !== 200 || res.headers.get("x-served-by") !== "portico") throw new Error(`unexpected response ${res.status}\n${gateway.output()}`);
      firstRequest.push(performance.now() - gateway.spawnedAt);
      ready.push(gateway.readyMs);
      await new Promise((r) => setTimeout(r, 2_000));
      rss.push(gateway.rss());
    } finally {
      await gateway.stop();
    }
    process.stderr.write(`${platform} run ${i + 1}: ready ${ready.at(-1)!.toFixed(0)} ms, RSS ${mib(rss.at(-1)!)}\n`);
  }
  const { bytes } = build.binaries[platform]!;
  rows.push(
    `| ${platform}${platform === "linux-arm64" ? " (qemu-aarch64-static)" : ""} | ${mib(bytes)} (${bytes.toLocaleString("en")} B) | ${
      median(ready).toFixed(0)
    } ms | ${median(firstRequest).toFixed(0)} ms | ${mib(median(rss))} |`,
  );
}
process.stdout.write(
  [
    `Binaries at commit ${build.commit} (version ${build.version}); medians of ${runs} starts.`,
    "",
    "| binary | size | spawn → /readyz 200 | spawn → first request served | idle RSS (2 s after ready) |",
    "|---|---:|---:|---:|---:|",
    ...rows,
    "",
  ].join("\n"),
);
