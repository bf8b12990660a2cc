/**
 * A gateway whose stdout nobody reads for a while keeps answering: its log lines go through a
 * bounded asynchronous buffer (runtime/observability/log.ts), and what does not fit is dropped and
 * counted, never waited for. The gateway's stdout is a pipe to `cat`, which the test stops
 * (SIGSTOP) and continues (SIGCONT), as a log collector that stalls would.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort, ROOT, scriptCommand, tempDir } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

async function until(check: () => boolean, what: string, output: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("logging to a stdout nobody reads", () => {
  let backend: Upstream;
  let gateway: ChildProcess;
  let port: number;
  let managementPort: number;
  let stdout = "";
  let stderr = "";
  let readerPid = 0;
  let gatewayPid = 0;
  let exited: Promise<void>;

  before(async () => {
    backend = await startUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
    });
    const config = join(tempDir(), "config.yaml");
    writeFileSync(config, `apis:\n  - { name: echo, path: /echo, backend: echo }\nbackends:\n  echo: { urls: ["${backend.url}"] }\n`);
    port = await freePort();
    managementPort = await freePort();
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("PORTICO_")) env[k] = v;
    Object.assign(env, {
      PORTICO_TELEMETRY_LOGS_STD: "json",
      PORTICO_TELEMETRY_LOGS_BUFFER: "64KiB",
      PORTICO_NET_SERVER_HTTP_PORT: String(port),
      PORTICO_NET_MANAGEMENT_PORT: String(managementPort),
      PORTICO_NET_SERVER_BIND_ADDRESS: "127.0.0.1",
      PORTICO_NET_MANAGEMENT_BIND_ADDRESS: "127.0.0.1",
    });
    // bash puts a `cat` between the gateway's stdout and ours and says the pids of both and the
    // gateway's exit status on stderr (Deno's child_process reports a child that exits 0 on SIGTERM
    // as killed by it, so the status is taken from bash).
    const script = `exec > >(sh -c 'echo "reader=$$" >&2; exec cat'); "$@" & echo "gateway=$!" >&2; wait $!; echo "exit=$?" >&2`;
    gateway = spawn("bash", ["-c", script, "bash", ...scriptCommand(join(ROOT, "runtime", "cli.ts")), "gateway", "--config", config], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    gateway.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    gateway.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    exited = new Promise((resolve) => gateway.on("exit", () => resolve()));
    const output = () => `${stdout}\n--- stderr ---\n${stderr}`;
    await until(() => /reader=\d+/.test(stderr), "the reader's pid", output);
    readerPid = Number(/reader=(\d+)/.exec(stderr)![1]);
    await until(() => /gateway=\d+/.test(stderr), "the gateway's pid", output);
    gatewayPid = Number(/gateway=(\d+)/.exec(stderr)![1]);
    await until(() => stdout.includes('"gateway started"'), "the gateway to start", output);
  });

  after(async () => {
    if (readerPid) {
      try {
        process.kill(readerPid, "SIGCONT");
      } catch {
        // gone
      }
    }
    if (!/exit=\d+/.test(stderr)) {
      try {
        if (gatewayPid) process.kill(gatewayPid, "SIGKILL");
      } catch {
        // gone
      }
    }
    await exited;
    await backend?.close();
  });

  it("answers requests quickly while lines are dropped, counts them, says how many once stdout reads again, and exits cleanly", async () => {
    process.kill(readerPid, "SIGSTOP");
    const from = stdout.length;
    // ~450-byte access lines: 2000 of them are ~900 KB against a 64 KiB buffer and a 64 KiB pipe.
    const total = 2000;
    const path = `/echo/${"p".repeat(300)}`;
    const latencies: number[] = [];
    let next = 0;
    const worker = async () => {
      while (next < total) {
        next++;
        const started = performance.now();
        const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(10_000) });
        assert.equal(response.status, 200);
        await response.text();
        latencies.push(performance.now() - started);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
    const slowest = latencies.at(-1)!;
    // A gateway that waited for stdout would answer none of these: the reader stays stopped throughout.
    assert.equal(latencies.length, total);
    assert.ok(p99 < 500, `p99 ${p99.toFixed(1)} ms`);
    assert.ok(slowest < 2000, `slowest ${slowest.toFixed(1)} ms`);
    assert.equal(stdout.length, from, "nothing came through while the reader was stopped");

    process.kill(readerPid, "SIGCONT");
    const output = () => `${stdout}\n--- stderr ---\n${stderr}`;
    // The whole lines that came through since the reader stopped. A notice says how many lines were
    // dropped since the last one, and how many in all: a burst can fill the buffer for a moment
    // before stdout does (a batch while the previous one is still being written), so a first small
    // notice may come before the one for the stall.
    const since = () => {
      const text = stdout.slice(from);
      const records = text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter(Boolean).map((line) => JSON.parse(line));
      const notices = records.filter((r) => /log lines dropped/.test(r.msg));
      const written = records.filter((r) => r.level === "access" && r.path === path).length;
      return { notices, written, dropped: notices.at(-1)?.total ?? 0 };
    };
    await until(
      () => {
        const { notices, written, dropped } = since();
        return notices.length > 0 && written + dropped >= total;
      },
      "every access line written or counted as dropped",
      output,
    );
    const { notices, written, dropped } = since();
    for (const notice of notices) assert.equal(notice.level, "warn");
    assert.equal(notices.reduce((sum, notice) => sum + notice.dropped, 0), dropped, "the notices add up to the total they state");
    assert.ok(dropped > total / 2, `dropped ${dropped} of ${total}`);
    assert.equal(written + dropped, total, "every access line is either written or counted as dropped");
    const metrics = await (await fetch(`http://127.0.0.1:${managementPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`^portico_logs_dropped_total ${dropped}$`, "m"), "the metric counts the dropped lines");

    process.kill(gatewayPid, "SIGTERM");
    await exited;
    assert.match(stderr, /exit=0\n/, `the gateway did not exit 0 on SIGTERM; output:\n${output().slice(-3000)}`);
  });
});
