import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, runCli, startGatewayProcess, tempDir } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";
import { loadAdapter } from "../server/detect.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** What a slow client saw: the answer (if any), and when (ms after connecting) it came and the connection closed. */
interface SlowResult {
  readonly data: string;
  readonly status: number | undefined;
  readonly answeredAt: number | undefined;
  readonly closedAt: number | undefined;
}

/**
 * Connects, writes `head`, then `step()` every `everyMs` (its return value is written; undefined
 * stops writing), until the gateway closes the connection or `giveUpMs` passes.
 */
function slowClient(port: number, head: string, step: (() => string | undefined) | undefined, everyMs: number, giveUpMs: number): Promise<SlowResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    let data = "";
    let answeredAt: number | undefined;
    let timer: ReturnType<typeof setInterval> | undefined;
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(head);
      if (step) {
        timer = setInterval(() => {
          const next = step();
          if (next === undefined) clearInterval(timer);
          else if (!socket.destroyed) socket.write(next);
        }, everyMs);
      }
    });
    const finish = (closedAt: number | undefined) => {
      clearInterval(timer);
      clearTimeout(giveUp);
      socket.destroy();
      const status = /^HTTP\/1\.[01] (\d{3}) /.exec(data)?.[1];
      resolve({ data, status: status ? Number(status) : undefined, answeredAt, closedAt });
    };
    const giveUp = setTimeout(() => finish(undefined), giveUpMs);
    socket.setEncoding("latin1");
    socket.on("data", (d) => {
      answeredAt ??= performance.now() - started;
      data += d;
    });
    socket.on("error", () => {});
    socket.on("close", () => finish(performance.now() - started));
  });
}

describe("connection and request-body timeouts", () => {
  let upstream: Upstream;
  let gw: GatewayProcess;
  let fixedHeadTimeout: { minMs: number; maxMs: number } | undefined;

  before(async () => {
    const adapter = await loadAdapter();
    const head = adapter.capabilities.headerTimeout;
    fixedHeadTimeout = head.kind === "fixed" ? head : undefined;
    upstream = await startUpstream();
    gw = await startGatewayProcess({
      config: `
apis:
  - { name: a, path: /a, backend: a }
  - { name: quick, path: /quick, backend: quick }
backends:
  a: { urls: ["${upstream.url}"] }
  quick: { urls: ["${upstream.url}"], timeout: 1500ms }
`,
      env: {
        PORTICO_TELEMETRY_LOGS_STD: "none",
        // Bun.serve has its own fixed head timeout; the setting is checked against it at start (below).
        ...(fixedHeadTimeout ? {} : { PORTICO_NET_SERVER_TIMEOUTS_HEADER: "1s" }),
        PORTICO_NET_SERVER_TIMEOUTS_BODY_IDLE: "1s",
        PORTICO_NET_SERVER_BODY_MIN_RATE: "1000",
        PORTICO_NET_SERVER_BODY_MIN_RATE_GRACE: "1s",
        PORTICO_NET_SERVER_TIMEOUTS_REQUEST: "4s",
        PORTICO_NET_SERVER_TIMEOUTS_KEEP_ALIVE: "2s",
      },
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  it("closes a connection whose request head is not complete within the head timeout", { timeout: 30_000 }, async () => {
    // One header line every 300 ms: never idle, never finished.
    const result = await slowClient(gw.port, "GET /a/x HTTP/1.1\r\nHost: h\r\n", () => "X-Slow: 1\r\n", 300, 20_000);
    assert.ok(result.closedAt !== undefined, "the connection was closed");
    const [low, high] = fixedHeadTimeout ? [fixedHeadTimeout.minMs - 500, fixedHeadTimeout.maxMs + 1_500] : [900, 2_500];
    assert.ok(result.closedAt >= low && result.closedAt <= high, `closed after ${Math.round(result.closedAt)} ms, expected ${low}-${high}`);
    if (result.status !== undefined) assert.equal(result.status, 408);
  });

  it("answers 408 and closes the connection when a request body stalls past the idle timeout", async () => {
    const before = upstream.seen.length;
    // 2,000 bytes at once keep the body above the minimum rate (1,000 bytes/s) for its first 2 s of
    // waiting, so only the idle timeout (1 s) can cut it off: with a few bytes, both limits fall due
    // at about 1 s and either could be named first.
    const start = "0123456789".repeat(200);
    const result = await slowClient(gw.port, `POST /a/stalled HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n${start}`, undefined, 0, 10_000);
    assert.equal(result.status, 408, result.data);
    assert.match(result.data, /application\/problem\+json/);
    assert.match(result.data, /stalled for more than 1 s/);
    assert.ok(result.answeredAt! >= 900 && result.answeredAt! < 3_000, `answered after ${Math.round(result.answeredAt!)} ms`);
    assert.ok(result.closedAt !== undefined && result.closedAt < 4_000, "and closed the connection");
    assert.ok(upstream.seen.length <= before + 1, "the backend saw at most the cut-off request");
  });

  it("answers 408 when a body arrives slower than the minimum rate, although it never stalls", async () => {
    const result = await slowClient(gw.port, "POST /a/trickle HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n", () => "x", 100, 10_000);
    assert.equal(result.status, 408, result.data);
    assert.match(result.data, /slower than 1000 bytes per second/);
    assert.ok(result.answeredAt! >= 900 && result.answeredAt! < 3_500, `answered after ${Math.round(result.answeredAt!)} ms`);
    assert.ok(result.closedAt !== undefined, "and closed the connection");
  });

  it("answers 408 when a body that keeps the rate is not complete within the request timeout", async () => {
    const piece = "y".repeat(300); // 3,000 bytes per second: above the minimum rate
    const result = await slowClient(gw.port, "POST /a/long HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n", () => piece, 100, 15_000);
    assert.equal(result.status, 408, result.data);
    assert.match(result.data, /not received completely within 4 s/);
    assert.ok(result.answeredAt! >= 3_800 && result.answeredAt! < 6_500, `answered after ${Math.round(result.answeredAt!)} ms`);
  });

  it("answers 504 and closes the connection when the backend does not answer in time while the body is still arriving", async () => {
    // The backend answers only at the end of the body, which keeps coming at a good rate.
    const piece = "z".repeat(300);
    const result = await slowClient(gw.port, "POST /quick/upload HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n", () => piece, 100, 10_000);
    assert.equal(result.status, 504, result.data);
    assert.ok(result.answeredAt! >= 1_400 && result.answeredAt! < 3_500, `answered after ${Math.round(result.answeredAt!)} ms`);
    assert.ok(result.closedAt !== undefined && result.closedAt < 4_500, `and closed the connection: ${JSON.stringify(result.data)}`);
  });

  it("closes an idle kept-alive connection after the keep-alive timeout, and not before", { timeout: 30_000 }, async () => {
    const result = await slowClient(gw.port, "GET /a/kept HTTP/1.1\r\nHost: h\r\n\r\n", undefined, 0, 15_000);
    assert.equal(result.status, 200);
    assert.ok(result.closedAt !== undefined, "the idle connection was closed");
    const idle = result.closedAt - result.answeredAt!;
    // Bun.serve counts its idle timeout in whole seconds on a 4 s tick.
    const high = fixedHeadTimeout ? 7_000 : 3_500;
    assert.ok(idle >= 1_500 && idle <= high, `closed ${Math.round(idle)} ms after the answer, expected 1500-${high}`);
  });

  it("refuses to start with a head timeout the runtime cannot honour, naming the setting", async () => {
    const dir = tempDir();
    const config = join(dir, "config.yaml");
    writeFileSync(config, `apis: [ { name: a, path: /, backend: a } ]\nbackends: { a: { urls: ["${upstream.url}"] } }\n`);
    const result = await runCli(["gateway", "--config", config], {
      PORTICO_NET_SERVER_TIMEOUTS_HEADER: "3s",
      PORTICO_NET_SERVER_TIMEOUTS_KEEP_ALIVE: "1000d",
      PORTICO_NET_SERVER_HTTP_PORT: "0",
      PORTICO_NET_MANAGEMENT_PORT: "0",
    });
    if (fixedHeadTimeout) {
      assert.equal(result.code, 1);
      assert.match(result.stderr, /net\.server\.timeouts\.header: .*has no setting for it/);
    }
    // Node's and Deno's listeners take any head timeout; a keep-alive of 1000 days is past every runtime's limit.
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /net\.server\.timeouts\.keep-alive: at most/);
  });
});
