import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";
import { detectRuntime } from "../server/detect.ts";

/** Sends `method` with `Upgrade: h2c` (as `curl --http2` does on a plain port) and `body`; resolves with the answer. */
function upgradeRequest(url: string, method: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method,
      headers: { connection: "Upgrade, HTTP2-Settings", upgrade: "h2c", "http2-settings": "AAMAAABkAAQCAAAAAAIAAAAA" },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode!, body: "" });
    });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

// Requests asking to upgrade to another protocol than WebSocket: never forwarded without their body.
describe("an Upgrade other than websocket", () => {
  let backend: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    backend = await startUpstream((req, res) => {
      let received = "";
      req.on("data", (d) => (received += d));
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(`${req.method} ${received.length} ${req.headers.upgrade ?? "-"}`);
      });
    });
    gw = await startGatewayProcess({ config: `apis:\n  - { name: a, path: /a, backend: b }\nbackends:\n  b: { urls: ["${backend.url}"] }\n` });
  });

  after(async () => {
    await gw?.stop();
    await backend?.close();
  });

  it("is answered as a plain request without a body, the Upgrade header not forwarded", async () => {
    const answer = await upgradeRequest(`${gw.url}/a/x`, "GET");
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "GET 0 -");
  });

  it("with a body: forwarded whole by Bun.serve, refused 400 by the node:http listeners of Node and Deno (never sent on without it)", async () => {
    const before = backend.seen.length;
    const answer = await upgradeRequest(`${gw.url}/a/x`, "POST", "twelve bytes");
    if (detectRuntime() === "bun") {
      assert.equal(answer.status, 200);
      assert.equal(answer.body, "POST 12 -");
    } else {
      assert.equal(answer.status, 400);
      assert.match(answer.body, /upgrade to a protocol other than WebSocket cannot carry a body/);
      assert.equal(backend.seen.length, before, "the backend was not called");
    }
  });
});
