import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createToken, fleetEnv } from "../../test/control-plane.ts";
import { freePort, type PorticoProcess, ROOT, spawnPortico, tempDir, waitForOk } from "../../test/harness.ts";

/** A started process with its stdout and stderr kept apart. */
interface Captured {
  readonly proc: PorticoProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
}

function capture(args: string[], env: Record<string, string>): Captured {
  const proc = spawnPortico(args, env);
  let stdout = "";
  let stderr = "";
  // Attached in the tick the process was spawned in, so no output is missed.
  proc.child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  proc.child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return { proc, stdout: () => stdout, stderr: () => stderr };
}

/** Fails unless every line of `text` is a JSON object with time, level and msg. */
function assertJsonLines(stream: string, text: string): void {
  const lines = text.split("\n");
  assert.equal(lines.pop(), "", `${stream} ends with a newline`);
  for (const line of lines) {
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      assert.fail(`${stream} has a line that is not JSON: ${JSON.stringify(line)}\nall of it:\n${text}`);
    }
    assert.ok(record !== null && typeof record === "object" && "time" in record && "level" in record && "msg" in record, `${stream}: ${line}`);
  }
}

/** Lets the process run a little past ready (so late start-up output is seen too), then checks both streams. */
async function assertStartOutputIsJson(run: Captured, started: RegExp): Promise<void> {
  await new Promise((r) => setTimeout(r, 500));
  const stdout = run.stdout();
  const stderr = run.stderr();
  assert.match(stdout, started);
  assertJsonLines("stdout", stdout);
  assertJsonLines("stderr", stderr);
}

describe("start-up output: JSON lines only, on stdout and stderr", { timeout: 60_000 }, () => {
  const running: PorticoProcess[] = [];
  after(async () => {
    await Promise.all(running.map((p) => p.stop()));
  });

  it("a standalone gateway with policies (the quickstart) writes only JSON lines while it starts", async () => {
    const management = await freePort();
    const run = capture(["gateway", "--config", join(ROOT, "config/examples/quickstart.yaml")], {
      PORTICO_NET_SERVER_HTTP_PORT: String(await freePort()),
      PORTICO_NET_MANAGEMENT_PORT: String(management),
      PORTICO_NET_SERVER_BIND_ADDRESS: "127.0.0.1",
      PORTICO_NET_MANAGEMENT_BIND_ADDRESS: "127.0.0.1",
    });
    running.push(run.proc);
    await waitForOk(run.proc, `http://127.0.0.1:${management}/readyz`, "gateway");
    await assertStartOutputIsJson(run, /"msg":"gateway started"/);
  });

  it("a control plane, and a gateway fed by it, write only JSON lines while they start", async () => {
    const data = tempDir();
    const port = await freePort();
    const plane = capture(["control-plane", "--data", data, "--port", String(port), "--bind", "127.0.0.1"], {});
    running.push(plane.proc);
    await waitForOk(plane.proc, `http://127.0.0.1:${port}/healthz`, "control plane");
    await assertStartOutputIsJson(plane, /"msg":"control plane started"/);

    const management = await freePort();
    const gateway = capture(["gateway"], {
      ...fleetEnv({ url: `http://127.0.0.1:${port}` }, await createToken(data, "edge"), tempDir()),
      PORTICO_NET_SERVER_HTTP_PORT: String(await freePort()),
      PORTICO_NET_MANAGEMENT_PORT: String(management),
      PORTICO_NET_SERVER_BIND_ADDRESS: "127.0.0.1",
      PORTICO_NET_MANAGEMENT_BIND_ADDRESS: "127.0.0.1",
    });
    running.push(gateway.proc);
    await waitForOk(gateway.proc, `http://127.0.0.1:${management}/readyz`, "gateway");
    await assertStartOutputIsJson(gateway, /"msg":"gateway started"/);
  });
});
