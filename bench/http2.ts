#!/usr/bin/env bun
/**
 * HTTP/2 against HTTP/1.1 through the TLS listener: `bun bench/http2.ts [--rounds 2] [--duration 5]
 * [--runtimes bun,node]`. Deno is not an arm: its listeners do not offer HTTP/2 (docs/protocols.md#http2).
 *
 * nginx (1 worker, `listen ... ssl http2`) and Portico on each runtime (the TLS listener, h2 by
 * ALPN as shipped: `net.server.http2.enabled` is on by default; JSON access log on), each in front of
 * the bench's upstream over HTTP/1.1, pinned to CPU 0. Each arm takes `wrk -t1 -c32` over HTTPS
 * (HTTP/1.1) and `h2load -t1 -c4 -m8` over HTTPS (HTTP/2 by ALPN: 32 streams in flight, as many as
 * wrk's connections), the two loads alternating round after round on the same process. h2load comes
 * from the Debian package nghttp2-client; without it only the HTTP/1.1 column is filled.
 * Prints Markdown; asserts nothing except that no request failed.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type ArmPlan, gatewayPlan, type Runtime, RUNTIMES, startArm } from "./lib/arms.ts";
import { type Bench, benchHeader, openBench, ROOT } from "./lib/context.ts";
import { runH2load } from "./lib/h2load.ts";
import { nginxCommand } from "./lib/nginx.ts";
import { wholeNumber } from "./lib/options.ts";
import { freePort, installCleanup, runCapture, runMain, type Server, startServer, stopAll } from "./lib/procs.ts";
import { median, table } from "./lib/report.ts";
import { ensureTool } from "./lib/tools.ts";
import { runWrk } from "./lib/wrk.ts";
import { HELLO_BODY } from "./upstream.ts";

/** One proxy under test: how to start it, and its HTTPS URL for both loads. */
interface Arm {
  readonly plan: ArmPlan;
  readonly httpsUrl: string;
}

/** A self-signed certificate for 127.0.0.1 and localhost, written into `dir`. */
async function certificate(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, "bench-cert.pem");
  const key = join(dir, "bench-key.pem");
  const made = await runCapture([
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout",
    key,
    "-out",
    cert,
  ], 30_000);
  if (made.status !== "0") throw new Error(`openssl could not make the bench certificate: ${made.stderr}`);
  return { cert, key };
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { rounds: { type: "string" }, duration: { type: "string" }, runtimes: { type: "string" } } });
  const rounds = wholeNumber("rounds", values.rounds, 1) ?? 2;
  const duration = wholeNumber("duration", values.duration, 1) ?? 5;
  const runtimes = (values.runtimes ?? "bun,node").split(",") as Runtime[];
  for (const runtime of runtimes) if (!RUNTIMES.includes(runtime)) throw new Error(`--runtimes: unknown runtime ${runtime}`);
  if (runtimes.includes("deno")) throw new Error("--runtimes: Portico on Deno does not serve HTTP/2 to clients (docs/protocols.md#http2)");
  installCleanup();
  const bench = await openBench({ nginx: true });
  const h2load = ensureTool("h2load", "nghttp2-client", bench.notes);
  const tls = await certificate(bench.dir);
  const configFile = join(bench.dir, "http2.yaml");
  writeFileSync(
    configFile,
    [
      "hostnames:",
      `  - { host: localhost, cert: ${tls.cert}, key: ${tls.key} }`,
      "apis:",
      "  - { name: bench, path: /, backend: upstream }",
      "backends:",
      `  upstream: { urls: ["http://127.0.0.1:${bench.upstreamPort}"], timeout: 30s }`,
      "",
    ].join("\n"),
  );

  const arms: Arm[] = [];
  if (bench.nginx) {
    const port = await freePort();
    const url = `https://127.0.0.1:${port}/`;
    const argv = [...bench.proxyPin, ...nginxCommand(bench.nginx, join(bench.dir, `nginx-${port}`), port, bench.upstreamPort, tls)];
    // nginx has no plain port here: readiness is checked with curl over TLS.
    arms.push({ plan: { name: "nginx", runtime: bench.versions.nginx, argv, url }, httpsUrl: url });
  }
  for (const runtime of runtimes) {
    const plan = await gatewayPlan(bench, runtime, configFile);
    const httpsPort = await freePort();
    Object.assign(plan.env!, { PORTICO_NET_SERVER_HTTPS_PORT: String(httpsPort), PORTICO_TELEMETRY_LOGS_STD: "json" });
    arms.push({ plan: { ...plan, name: `Portico on ${runtime}` }, httpsUrl: `https://127.0.0.1:${httpsPort}/` });
  }

  const rows: string[][] = [];
  const h2ByArm = new Map<string, number>();
  for (const arm of arms) {
    const server = arm.plan.name === "nginx" ? await startNginx(bench, arm) : await startArm(bench, arm.plan, HELLO_BODY);
    try {
      // HTTPS answers the same body before any load.
      const probe = await runCapture(["curl", "-sk", "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", arm.httpsUrl], 10_000);
      if (probe.stdout.trim() !== "2 200") throw new Error(`${arm.plan.name}: curl --http2 got "${probe.stdout.trim()}" (want "2 200")`);
      const h1: number[] = [];
      const h2: number[] = [];
      for (let round = 1; round <= rounds; round++) {
        const order = round % 2 ? ["h1", "h2"] : ["h2", "h1"];
        for (const load of order) {
          if (load === "h1") {
            const run = await runWrk({ wrk: bench.wrk, url: arm.httpsUrl, seconds: duration, connections: 32, threads: 1, pin: bench.loadPin });
            if (run.non2xx || run.socketErrors) throw new Error(`${arm.plan.name}: wrk saw ${run.non2xx} non-2xx, ${run.socketErrors} socket errors`);
            h1.push(run.rps);
          } else if (h2load) {
            const run = await runH2load({ h2load, url: arm.httpsUrl, seconds: duration, connections: 4, streams: 8, pin: bench.loadPin });
            if (run.errors) throw new Error(`${arm.plan.name}: h2load saw ${run.errors} failed requests`);
            h2.push(run.rps);
          }
          process.stderr.write(`[http2] ${arm.plan.name} round ${round} ${load}: ${Math.round((load === "h1" ? h1 : h2).at(-1) ?? 0)} rps\n`);
        }
      }
      const h1Rps = median(h1);
      const h2Rps = h2.length ? median(h2) : NaN;
      h2ByArm.set(arm.plan.name, h2Rps);
      rows.push([
        arm.plan.name,
        arm.plan.runtime,
        Math.round(h1Rps).toLocaleString("en"),
        h2.length ? Math.round(h2Rps).toLocaleString("en") : "n/a",
        h2.length ? `${(h2Rps / h1Rps).toFixed(2)}×` : "n/a",
      ]);
    } finally {
      await server?.stop();
    }
  }
  const nginxH2 = h2ByArm.get("nginx");
  const withNginx = rows.map((row) => [...row, nginxH2 && h2ByArm.get(row[0]!) ? `${(h2ByArm.get(row[0]!)! / nginxH2).toFixed(2)}×` : "n/a"]);
  process.stdout.write(
    [
      "## HTTP/2 (h2load) against HTTP/1.1 (wrk) through the TLS listener",
      "",
      ...benchHeader(bench),
      ...bench.notes.map((note) => `- note: ${note}`),
      `- command: \`bun bench/http2.ts --rounds ${rounds} --duration ${duration} --runtimes ${runtimes.join(",")}\``,
      `- loads: \`wrk -t1 -c32 -d${duration}s https://…\` (HTTP/1.1) and \`h2load -t1 -c4 -m8 -D${duration} https://…\` (h2 by ALPN), alternating, medians of ${rounds} rounds; backends over HTTP/1.1; Portico with its JSON access log on`,
      "",
      table(["arm", "server", "HTTP/1.1 rps (wrk)", "HTTP/2 rps (h2load)", "HTTP/2 / HTTP/1.1", "HTTP/2 vs nginx"], withNginx),
      "",
    ].join("\n"),
  );
  await stopAll();
  return 0;
}

/** Starts nginx and waits until it answers over TLS. */
async function startNginx(bench: Bench, arm: Arm): Promise<Server> {
  const server = startServer("nginx", arm.plan.argv!, { cwd: ROOT, logFile: join(bench.dir, "nginx-http2.log") });
  for (let i = 0; i < 100; i++) {
    const probe = await runCapture(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", arm.httpsUrl], 5_000);
    if (probe.stdout.trim() === "200") return server;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await server.stop();
  throw new Error(`nginx did not answer on ${arm.httpsUrl}: ${server.logTail()}`);
}

runMain(main);
