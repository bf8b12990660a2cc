import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

const SLOW_CLIENTS = 500;

/** The p-th percentile (0-100) of some numbers. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** One GET through a fresh keep-alive-free connection, timed from connect to the end of the answer. */
function timedGet(port: number, path: string): Promise<{ ms: number; status: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let data = "";
    const socket = connect(port, "127.0.0.1", () => socket.write(`GET ${path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`));
    socket.setEncoding("latin1");
    socket.on("data", (d) => (data += d));
    socket.on("error", reject);
    socket.on("close", () => resolve({ ms: performance.now() - started, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0) }));
  });
}

describe("isolation between backends", () => {
  let slow: Upstream;
  let fast: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    // The slow backend reads every body to its end before answering; the uploads never end.
    slow = await startUpstream();
    fast = await startUpstream((_req, res) => res.end("fast"));
    gw = await startGatewayProcess({
      config: `
apis:
  - { name: uploads, path: /uploads, backend: slow }
  - { name: quick, path: /quick, backend: fast }
backends:
  slow: { urls: ["${slow.url}"], timeout: 60s }
  fast: { urls: ["${fast.url}"] }
`,
      env: { PORTICO_TELEMETRY_LOGS_STD: "none" },
    });
  });

  after(async () => {
    await gw?.stop();
    await slow?.close();
    await fast?.close();
  });

  it(`keeps another API answering fast (p99 under 100 ms) while ${SLOW_CLIENTS} clients trickle uploads to one backend`, { timeout: 120_000 }, async () => {
    const sockets: Socket[] = [];
    const answers = new Map<number, number>();
    // Each client sends 300 bytes every second: above the default minimum rate (240 B/s), so only
    // the backend's concurrency limit stands between them and every connection the gateway has.
    for (let i = 0; i < SLOW_CLIENTS; i++) {
      const socket = connect(gw.port, "127.0.0.1", () => socket.write(`POST /uploads/${i} HTTP/1.1\r\nHost: h\r\nContent-Length: 100000000\r\n\r\n`));
      socket.setEncoding("latin1");
      socket.on("data", (d: string) => {
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(d)?.[1] ?? 0);
        if (status) answers.set(status, (answers.get(status) ?? 0) + 1);
      });
      socket.on("error", () => {});
      sockets.push(socket);
    }
    // Spread over the second (a tenth of the clients every 100 ms), as independent clients would be.
    const piece = "u".repeat(300);
    let tick = 0;
    const trickle = setInterval(() => {
      for (let i = tick++ % 10; i < sockets.length; i += 10) if (!sockets[i]!.destroyed) sockets[i]!.write(piece);
    }, 100);
    try {
      await new Promise((r) => setTimeout(r, 2_000)); // every upload has started
      const latencies: number[] = [];
      const deadline = performance.now() + 8_000;
      while (performance.now() < deadline) {
        const { ms, status } = await timedGet(gw.port, "/quick/ping");
        assert.equal(status, 200);
        latencies.push(ms);
        await new Promise((r) => setTimeout(r, 20));
      }
      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      const metrics = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
      const inFlight = Number(/portico_backend_requests_in_flight\{backend="slow"\} (\d+)/.exec(metrics)?.[1]);
      process.stdout.write(
        `# ${latencies.length} requests to the other API: p50 ${p50.toFixed(1)} ms, p99 ${
          p99.toFixed(1)
        } ms; slow backend: ${inFlight} in flight; answers to the uploads so far: ${JSON.stringify(Object.fromEntries(answers))}\n`,
      );
      assert.ok(latencies.length >= 100, `enough samples (${latencies.length})`);
      assert.ok(p99 < 100, `p99 ${p99.toFixed(1)} ms`);
      assert.equal(inFlight, 128, "the slow backend holds exactly its default concurrency limit");
      assert.ok((answers.get(503) ?? 0) > 0, "uploads beyond the limit and its queue were refused with 503");
    } finally {
      clearInterval(trickle);
      for (const socket of sockets) socket.destroy();
    }
  });
});
