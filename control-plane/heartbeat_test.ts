import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tempDir } from "../test/harness.ts";
import { controlPlaneApp } from "./api.ts";
import { MAX_HEARTBEAT_BYTES, MAX_REPORTED_PROBLEMS, MAX_REPORTED_TEXT, reportedProblems, reportedText, textWithin } from "./heartbeat.ts";
import { ControlPlane } from "./service.ts";
import { createToken } from "./tokens.ts";

/** A request body that arrives in chunks without a Content-Length (as a chunked upload does). */
function chunked(chunks: number, size: number): Request {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent++ === chunks) return controller.close();
      controller.enqueue(new Uint8Array(size).fill(0x20));
    },
  });
  return new Request("http://cp/heartbeat", { method: "POST", body, duplex: "half" } as RequestInit);
}

describe("heartbeat limits", () => {
  it("reads a body within the limit, and refuses one over it by its Content-Length or as it arrives", async () => {
    assert.equal(await textWithin(new Request("http://cp/", { method: "POST", body: '{"a":1}' }), 10), '{"a":1}');
    assert.equal(await textWithin(new Request("http://cp/", { method: "POST", body: "x".repeat(11) }), 10), undefined);
    assert.equal(await textWithin(new Request("http://cp/", { method: "POST", headers: { "content-length": "11" }, body: "x".repeat(11) }), 10), undefined);
    assert.equal((await textWithin(chunked(4, 1024), 4096))!.length, 4096);
    assert.equal(await textWithin(chunked(5, 1024), 4096), undefined);
  });

  it("cuts long texts and long problem lists so that a gateway's report fits, even when every character needs an escape", () => {
    assert.equal(reportedText("short"), "short");
    const cut = reportedText("p".repeat(MAX_REPORTED_TEXT + 500));
    assert.equal(cut.length, MAX_REPORTED_TEXT);
    assert.ok(cut.endsWith("…"));
    const many = reportedProblems(Array.from({ length: 1000 }, (_, i) => `${i}: ${"q".repeat(5000)}`));
    assert.equal(many.length, MAX_REPORTED_PROBLEMS + 1);
    assert.equal(many.at(-1), `… and ${1000 - MAX_REPORTED_PROBLEMS} more`);
    assert.deepEqual(reportedProblems(["a", "b"]), ["a", "b"]);
    // A control character takes 6 bytes in JSON (\u0001).
    const escaped = reportedProblems(Array.from({ length: 1000 }, () => "\u0001".repeat(5000)));
    assert.ok(escaped.length < MAX_REPORTED_PROBLEMS, `${escaped.length} listed`);
    const report = {
      version: "1",
      runtime: "node 20",
      lastError: { at: new Date().toISOString(), message: reportedText("\u0001".repeat(10_000)), problems: escaped },
    };
    assert.ok(Buffer.byteLength(JSON.stringify(report)) < MAX_HEARTBEAT_BYTES, `${Buffer.byteLength(JSON.stringify(report))} bytes`);
  });
});

describe("the control plane's heartbeat endpoint", () => {
  const logged: { message: string; fields?: Record<string, unknown> }[] = [];
  const log = { info() {}, warn: (message: string, fields?: Record<string, unknown>) => void logged.push({ message, fields }), error() {} };
  const plane = new ControlPlane(tempDir(), log);
  const token = createToken({ gateway: "edge-1", key: "primary", generation: 1, expires: Date.now() + 3_600_000 }, plane.keys.ensure("edge-1", "primary"));
  const app = controlPlaneApp(plane);
  const beat = (body: BodyInit) =>
    app.request("/v1/gateways/edge-1/heartbeat", {
      method: "POST",
      headers: { authorization: `GatewayKey ${token}`, "content-type": "application/json" },
      body,
    });

  it("takes a heartbeat within the limit", async () => {
    const res = await beat(JSON.stringify({ version: "1", padding: "x".repeat(MAX_HEARTBEAT_BYTES - 100) }));
    assert.equal(res.status, 204);
    assert.equal(plane.status().gateways.find((g) => g.name === "edge-1")?.version, "1");
  });

  it("refuses a larger one with 413 problem+json, counts it, and logs it once per gateway in 10 minutes", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await beat(JSON.stringify({ version: "2", padding: "x".repeat(MAX_HEARTBEAT_BYTES) }));
      assert.equal(res.status, 413);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      const problem = await res.json();
      assert.equal(problem.type, "urn:portico:problem:control-plane:too-large");
      assert.equal(problem.detail, `a heartbeat is at most ${MAX_HEARTBEAT_BYTES} bytes`);
    }
    const entry = plane.status().gateways.find((g) => g.name === "edge-1")!;
    assert.equal(entry.version, "1", "the refused report was not taken");
    assert.equal(entry.heartbeatsTooLarge, 3);
    assert.deepEqual(logged.filter((l) => /heartbeat refused/.test(l.message)).map((l) => l.fields), [{
      gateway: "edge-1",
      limitBytes: MAX_HEARTBEAT_BYTES,
      refused: 1,
    }]);
  });
});
