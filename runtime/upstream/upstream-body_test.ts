import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BODY_HIGH_WATER_MARK, type BodySink, UpstreamBody } from "./upstream-body.ts";

/** A producer that counts its resumes and keeps its abort reason. */
function producer() {
  const seen = { resumes: 0, aborted: undefined as Error | undefined };
  return { seen, controls: { resume: () => seen.resumes++, abort: (reason: Error) => (seen.aborted = reason) } };
}

/** A sink that records what it gets and has room while `room` says so. */
function sink(room = () => true) {
  const got: string[] = [];
  const s: BodySink = {
    data: (chunk) => {
      got.push(Buffer.from(chunk).toString());
      return room();
    },
    end: () => got.push("<end>"),
    fail: (error) => got.push(`<fail ${error.message}>`),
  };
  return { got, sink: s };
}

const bytes = (text: string) => Buffer.from(text);

describe("a backend's body as the dispatcher delivers it (UpstreamBody)", () => {
  it("gives the chunks that came before its reader first, in order, then the ones after, then its end", () => {
    const { controls } = producer();
    const body = new UpstreamBody(controls);
    body.push(bytes("a"));
    body.push(bytes("b"));
    const { got, sink: s } = sink();
    body.read(s);
    assert.deepEqual(got, ["a", "b"]);
    body.push(bytes("c"));
    body.end();
    assert.deepEqual(got, ["a", "b", "c", "<end>"]);
    assert.throws(() => body.read(sink().sink), TypeError, "a body is read once");
  });

  it("asks the producer to pause past its high-water mark while nobody reads, and resumes it once read", () => {
    const { seen, controls } = producer();
    const body = new UpstreamBody(controls);
    assert.equal(body.push(new Uint8Array(BODY_HIGH_WATER_MARK - 1)), true);
    assert.equal(body.push(new Uint8Array(1)), false, "full: the producer pauses");
    const { got, sink: s } = sink();
    body.read(s);
    assert.equal(got.length, 2);
    assert.equal(seen.resumes, 1, "everything that waited went: the producer resumes");
  });

  it("keeps chunks in order while a full reader makes them wait, and resumes the producer only when it has room", () => {
    const { seen, controls } = producer();
    const body = new UpstreamBody(controls);
    body.push(bytes("1"));
    body.push(bytes("2"));
    let room = false;
    const { got, sink: s } = sink(() => room);
    body.read(s);
    assert.deepEqual(got, ["1"], "the reader is full after one");
    body.push(bytes("3"));
    assert.deepEqual(got, ["1"], "a chunk that comes now waits behind the one that waited");
    assert.equal(body.push(new Uint8Array(BODY_HIGH_WATER_MARK)), false, "past the high-water mark the producer pauses");
    room = true;
    body.resume();
    assert.deepEqual(got.slice(0, 3), ["1", "2", "3"]);
    assert.equal(got.length, 4);
    assert.equal(seen.resumes, 1, "nothing waits any more: the producer resumes");
    body.end();
    assert.equal(got.at(-1), "<end>");
  });

  it("keeps a failure for a reader that comes later, after the chunks before it", () => {
    const body = new UpstreamBody(producer().controls);
    body.push(bytes("x"));
    body.fail(new Error("connection reset"));
    assert.equal(body.failed, true);
    const { got, sink: s } = sink();
    body.read(s);
    assert.deepEqual(got, ["x", "<fail connection reset>"]);
  });

  it("aborts a body still arriving when its reader lets go, and delivers nothing more", () => {
    const { seen, controls } = producer();
    const body = new UpstreamBody(controls);
    const { got, sink: s } = sink();
    body.read(s);
    body.push(bytes("a"));
    body.destroy(new Error("client gone"));
    assert.match(String(seen.aborted), /client gone/);
    body.push(bytes("b"));
    body.end();
    assert.deepEqual(got, ["a"]);
  });

  it("does not abort a body that had ended when its reader lets go", () => {
    const { seen, controls } = producer();
    const body = new UpstreamBody(controls);
    body.end();
    body.destroy();
    assert.equal(seen.aborted, undefined);
  });

  it("reads as a web stream that pauses the producer while its reader does not pull", async () => {
    const { seen, controls } = producer();
    const body = new UpstreamBody(controls);
    const stream = body.toWeb();
    // More than the stream holds: the body tells the producer to pause.
    let accepted = true;
    let pushed = 0;
    while (accepted) {
      accepted = body.push(new Uint8Array(BODY_HIGH_WATER_MARK / 2));
      pushed += BODY_HIGH_WATER_MARK / 2;
    }
    assert.equal(pushed, BODY_HIGH_WATER_MARK, "the stream holds its high-water mark");
    const reader = stream.getReader();
    let total = 0;
    while (seen.resumes === 0) total += (await reader.read()).value!.byteLength;
    assert.equal(seen.resumes, 1, "the reader pulled: the producer resumes");
    body.end();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      total += value.byteLength;
    }
    assert.equal(total, pushed);
  });

  it("lets go of the body when its web stream is cancelled", async () => {
    const { seen, controls } = producer();
    const body = new UpstreamBody(controls);
    await body.toWeb().cancel(new Error("cancelled"));
    assert.match(String(seen.aborted), /cancelled/);
  });
});
