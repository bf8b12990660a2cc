import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ROOT, startGatewayProcess, type GatewayProcess } from "../../test/harness.ts";
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
      config: `
apis:
  - { name: rw, path: /rw, backend: up, policies: { inbound: [ { policy: rewrite } ], outbound: [ { policy: rewrite } ] } }
  - { name: no-opt-in, path: /closed, backend: up, policies: { inbound: [ { policy: blind } ] } }
backends:
  up: { urls: ["${upstream.url}"] }
policies:
  rewrite: { module: ${module}, body: { request: 1KiB, response: 1KiB } }
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
});
