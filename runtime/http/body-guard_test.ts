import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { BodyGuard, type BodyLimits, RequestBodyTimeout } from "./body-guard.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LIMITS: BodyLimits = { idleMs: 60_000, minRate: 0, minRateGraceMs: 0, totalMs: 60_000 };

/** A web stream the test feeds by hand. */
function handFed() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  return { stream, push: (n: number) => controller.enqueue(new Uint8Array(n)), end: () => controller.close() };
}

describe("BodyGuard", () => {
  it("passes a body through unchanged and stops guarding it at its end", async () => {
    const guard = new BodyGuard(LIMITS);
    const source = Readable.from([Buffer.from("hel"), Buffer.from("lo")]);
    const body = guard.watchReadable(source, performance.now());
    assert.equal(guard.size, 1);
    const parts: string[] = [];
    for await (const chunk of body) parts.push(Buffer.from(chunk).toString());
    assert.deepEqual(parts, ["hel", "lo"]);
    assert.equal(body.bytes, 5);
    assert.ok(body.finished && body.settled);
    assert.equal(guard.size, 0);
  });

  it("cuts off a body whose reader waits longer than the idle timeout, rejecting the read in progress", async () => {
    const guard = new BodyGuard({ ...LIMITS, idleMs: 40 });
    const fed = handFed();
    const body = guard.watchStream(fed.stream, performance.now());
    fed.push(10);
    await body.nextChunk();
    const started = performance.now();
    const error = await body.nextChunk().catch((e: unknown) => e);
    assert.ok(error instanceof RequestBodyTimeout, String(error));
    assert.equal(error.reason, "idle");
    assert.ok(performance.now() - started < 1_000);
    assert.equal(guard.timeouts.idle, 1);
    assert.ok(body.settled);
    await assert.rejects(body.nextChunk(), RequestBodyTimeout, "later reads fail the same way");
  });

  it("does not count time the consumer spends not reading (backpressure) against the client", async () => {
    const guard = new BodyGuard({ ...LIMITS, idleMs: 40 });
    const fed = handFed();
    const body = guard.watchStream(fed.stream, performance.now());
    fed.push(1);
    fed.push(1);
    await body.nextChunk();
    await sleep(150); // the backend is slow to read; the client is not waiting for anything
    guard.sweep(performance.now());
    assert.equal(body.failure, undefined);
    assert.equal((await body.nextChunk()).done, false);
  });

  it("cuts off a body slower than the minimum rate once the grace period is over", () => {
    const guard = new BodyGuard({ ...LIMITS, minRate: 1000, minRateGraceMs: 100 });
    const fed = handFed();
    const body = guard.watchStream(fed.stream, performance.now());
    body.bytes = 50;
    body.waited = 90;
    guard.sweep(performance.now());
    assert.equal(body.failure, undefined, "within the grace period");
    body.waited = 200; // 50 bytes in 0.2 s of waiting: 250 bytes/s
    guard.sweep(performance.now());
    assert.equal((body.failure as RequestBodyTimeout | undefined)?.reason, "rate");
  });

  it("cuts off a body not complete within the total time, and one that is never read stops being guarded when released", () => {
    const guard = new BodyGuard({ ...LIMITS, totalMs: 1_000 });
    const late = guard.watchStream(handFed().stream, performance.now() - 2_000);
    const unread = guard.watchStream(handFed().stream, performance.now());
    guard.sweep(performance.now());
    assert.equal(late.failure?.reason, "total");
    assert.equal(guard.size, 1);
    unread.release();
    assert.equal(guard.size, 0);
    assert.ok(unread.settled);
  });

  it("tells whoever holds a place when the body is settled, also when the client goes away", async () => {
    const guard = new BodyGuard(LIMITS);
    const source = new Readable({ read() {} });
    const body = guard.watchReadable(source, performance.now());
    let settled = 0;
    body.onSettled(() => settled++);
    source.push(Buffer.from("x"));
    await body.nextChunk();
    const pending = body.nextChunk();
    source.destroy(new Error("client went away"));
    await assert.rejects(pending, /client went away/);
    assert.equal(settled, 1);
    assert.equal(guard.size, 0);
  });
});
