import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HttpProblem } from "../http/problem.ts";
import type { PolicyExchange } from "./abi.ts";
import { BodyBuffers, loadBody } from "./body.ts";

/** A request whose body arrives in `chunks` chunks of `size` bytes, then fails if `fail` says so. */
function upload(chunks: number, size: number, fail = false): Request {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent++ < chunks) return controller.enqueue(new Uint8Array(size).fill(0x61));
      if (fail) controller.error(new Error("the client went away"));
      else controller.close();
    },
  });
  return new Request("http://gw/x", { method: "POST", body, duplex: "half" } as RequestInit);
}

const exchange = (incoming: Request): PolicyExchange => ({
  method: "POST",
  path: "/x",
  requestHeaders: new Headers(),
  responseHeaders: undefined,
  clientBody: (incoming.body as AsyncIterable<Uint8Array> | null) ?? undefined,
});

const release = (ex: PolicyExchange) => {
  for (const done of ex.releases ?? []) done();
};

describe("bodies buffered for policies, within a process-wide cap", () => {
  it("counts a buffered body until the exchange gives it back", async () => {
    const buffers = new BodyBuffers(10_000);
    const one = exchange(upload(4, 1000));
    const two = exchange(upload(3, 1000));
    await loadBody(one, "request", 8000, buffers);
    await loadBody(two, "request", 8000, buffers);
    assert.equal(one.requestBody!.length, 4000);
    assert.equal(buffers.bytes, 7000);
    release(one);
    assert.equal(buffers.bytes, 3000);
    release(two);
    assert.equal(buffers.bytes, 0);
    assert.equal(buffers.refusals, 0);
  });

  it("refuses a body that would pass the cap with 503 and Retry-After, giving back what it had read", async () => {
    const buffers = new BodyBuffers(5_000);
    const first = exchange(upload(3, 1000));
    await loadBody(first, "request", 8000, buffers);
    const second = exchange(upload(3, 1000));
    await assert.rejects(loadBody(second, "request", 8000, buffers), (error: HttpProblem) => {
      assert.equal(error.kind, "buffers-full");
      assert.equal(error.status, 503);
      assert.deepEqual(error.headers, { "retry-after": "1" });
      return true;
    });
    assert.equal(buffers.bytes, 3000, "the refused body's first 2000 bytes were given back");
    assert.equal(buffers.refusals, 1);
    release(first);
    await loadBody(exchange(upload(3, 1000)), "request", 8000, buffers);
    assert.equal(buffers.bytes, 3000, "room again once the first was given back");
  });

  it("answers 413 for a body over the policy's limit before the cap is looked at, and gives back its bytes", async () => {
    const buffers = new BodyBuffers(2_500);
    await assert.rejects(loadBody(exchange(upload(3, 1000)), "request", 2000, buffers), (error: HttpProblem) => error.kind === "payload-too-large");
    assert.equal(buffers.bytes, 0);
    assert.equal(buffers.refusals, 0);
  });

  it("gives back the bytes of a body whose stream fails half-way", async () => {
    const buffers = new BodyBuffers(10_000);
    await assert.rejects(loadBody(exchange(upload(2, 1000, true)), "request", 8000, buffers), /the client went away/);
    assert.equal(buffers.bytes, 0);
  });

  it("counts a buffered response body the same way", async () => {
    const buffers = new BodyBuffers(1_500);
    const ex = exchange(new Request("http://gw/x"));
    ex.upstreamBody = upload(1, 1000).body;
    await loadBody(ex, "response", 8000, buffers);
    assert.equal(buffers.bytes, 1000);
    const refused = exchange(new Request("http://gw/x"));
    refused.upstreamBody = upload(1, 1000).body;
    await assert.rejects(loadBody(refused, "response", 8000, buffers), (error: HttpProblem) => error.kind === "buffers-full");
    release(ex);
    assert.equal(buffers.bytes, 0);
  });
});
