import assert from "node:assert/strict";
import { type IncomingMessage, request } from "node:http";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, ROOT, startGatewayProcess } from "../../test/harness.ts";
import { httpCall } from "../../test/http-client.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

describe("opt-in body access for policies", { timeout: 60_000 }, () => {
  let upstream: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString();
        if (req.url === "/big") return void res.end("x".repeat(4096));
        res.end(`the secret is out: ${body}`);
      });
    });
    const module = JSON.stringify(`${ROOT}policies-wasm/dist/fixtures/body-rewrite.wasm`);
    gw = await startGatewayProcess({
      // The smallest cap: one body of the largest size a policy may read.
      env: { PORTICO_POLICY_BODY_MAX_BUFFERED: "1MiB" },
      config: `
apis:
  - { name: rw, path: /rw, backend: up, policies: { inbound: [ { policy: rewrite } ], outbound: [ { policy: rewrite } ] } }
  - { name: no-opt-in, path: /closed, backend: up, policies: { inbound: [ { policy: blind } ] } }
  - { name: big, path: /big-rw, backend: up, policies: { inbound: [ { policy: rewrite-big } ] } }
backends:
  up: { urls: ["${upstream.url}"] }
policies:
  rewrite: { module: ${module}, body: { request: 1KiB, response: 1KiB } }
  rewrite-big: { module: ${module}, body: { request: 1MiB }, budget: { fuel: 100000000, memory: 64MiB } }
  blind: { module: ${module} }
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  it("lets a policy read and replace the request and the response body", async () => {
    upstream.seen.length = 0;
    const res = await fetch(`${gw.url}/rw/echo`, { method: "POST", body: "hello", headers: { "accept-encoding": "gzip" } });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "the ****** is out: HELLO");
    assert.equal(res.headers.get("content-length"), String("the ****** is out: HELLO".length));
    const seen = upstream.seen.at(-1)!;
    assert.equal(seen.headers["content-length"], "5");
    assert.equal(seen.headers["x-request-body-bytes"], "5");
    assert.equal(seen.headers["accept-encoding"], "identity", "a policy reading the response body gets it uncompressed");
  });

  it("answers 413 for a request body over the policy's limit, without calling the backend", async () => {
    upstream.seen.length = 0;
    const res = await fetch(`${gw.url}/rw/echo`, { method: "POST", body: "a".repeat(2048) });
    assert.equal(res.status, 413);
    assert.equal((await res.json()).type, "urn:portico:problem:payload-too-large");
    assert.equal(upstream.seen.length, 0);
  });

  it("answers 502 for a response body over the policy's limit", async () => {
    const res = await fetch(`${gw.url}/rw/big`);
    assert.equal(res.status, 502);
    assert.equal((await res.json()).type, "urn:portico:problem:backend-response-too-large");
  });

  it("fails a policy that reads a body it did not opt in to", async () => {
    const res = await fetch(`${gw.url}/closed/echo`, { method: "POST", body: "hello" });
    assert.equal(res.status, 500);
    assert.equal((await res.json()).type, "urn:portico:problem:policy-failed");
    await gw.waitForOutput(/reads the request body without opting in \(policies\.blind\.body\.request\)/, 5_000);
  });

  it("refuses a body with 503 and Retry-After while others fill policy.body.max-buffered, and takes it once they are done", async () => {
    const buffered = async () => {
      const text = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
      return {
        bytes: value("portico_policy_body_buffered_bytes"),
        max: value("portico_policy_body_max_buffered_bytes"),
        refused: value("portico_policy_body_refused_total"),
      };
    };
    assert.deepEqual(await buffered(), { bytes: 0, max: 1024 * 1024, refused: 0 });
    // A client sends all but the last 8 KiB of a 1 MiB body, and waits.
    const held = request({ host: "127.0.0.1", port: gw.port, method: "POST", path: "/big-rw/echo", headers: { "content-length": String(1024 * 1024) } });
    const answered = new Promise<IncomingMessage>((resolve, reject) => held.on("response", resolve).on("error", reject));
    held.write(Buffer.alloc(1024 * 1024 - 8192, 0x61));
    const deadline = Date.now() + 10_000;
    while ((await buffered()).bytes < 1024 * 1024 - 8192) {
      assert.ok(Date.now() < deadline, "the held body was not buffered within 10 s");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    upstream.seen.length = 0;
    const refused = await httpCall(gw.port, "/big-rw/echo", { method: "POST", body: "b".repeat(16 * 1024) });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers["content-type"], "application/problem+json");
    assert.equal(refused.headers["retry-after"], "1");
    assert.equal(JSON.parse(refused.body).type, "urn:portico:problem:buffers-full");
    assert.equal(upstream.seen.length, 0, "the backend was not called");
    assert.equal((await buffered()).refused, 1);
    held.end(Buffer.alloc(8192, 0x61));
    const response = await answered;
    response.resume();
    assert.equal(response.statusCode, 200);
    while ((await buffered()).bytes !== 0) {
      assert.ok(Date.now() < deadline + 10_000, "the held body's bytes were not given back");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const later = await httpCall(gw.port, "/big-rw/echo", { method: "POST", body: "b".repeat(16 * 1024) });
    assert.equal(later.status, 200);
  });
});
