import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { teeWithin } from "./tee.ts";

const text = (s: string) => new TextEncoder().encode(s);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** A source that gives `chunks` one by one as they are pulled, then ends (or fails, with `fail`). */
function source(chunks: string[], fail = false): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(text(chunks[i++]!));
      else if (fail) controller.error(new Error("backend went away"));
      else controller.close();
    },
  });
}

/** What a tee of `chunks` reported, and what a reader read (with, per chunk read, whether `complete` had been called). */
async function run(chunks: string[], limit: number, length?: number, fail = false) {
  const events: string[] = [];
  let stored: string | undefined;
  const stream = teeWithin(source(chunks, fail), limit, length, (body) => (stored = decode(body)), () => events.push("overflow"));
  const read: string[] = [];
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      read.push(`${decode(value)}${stored === undefined ? "" : " (stored)"}`);
    }
  } catch (error) {
    events.push(`error: ${(error as Error).message}`);
  }
  return { read, stored, events };
}

describe("teeWithin (the copy cache-store keeps of a streaming body)", () => {
  it("passes every chunk on as it comes and hands over the whole body, before the last chunk when the length is declared", async () => {
    const { read, stored, events } = await run(["ab", "cd", "ef"], 100, 6);
    assert.deepEqual(read, ["ab", "cd", "ef (stored)"]);
    assert.equal(stored, "abcdef");
    assert.deepEqual(events, []);
  });

  it("hands over a body without a declared length once it ended", async () => {
    const { read, stored } = await run(["ab", "cd"], 100);
    assert.deepEqual(read, ["ab", "cd"]);
    assert.equal(stored, "abcd");
  });

  it("drops the copy once the body passes the limit, and passes the rest on whole", async () => {
    const { read, stored, events } = await run(["abc", "def", "ghi"], 5);
    assert.deepEqual(read, ["abc", "def", "ghi"]);
    assert.equal(stored, undefined);
    assert.deepEqual(events, ["overflow"], "reported once");
  });

  it("never hands over a body cut off by its source, nor one the reader gave up on", async () => {
    const failed = await run(["ab", "cd"], 100, undefined, true);
    assert.equal(failed.stored, undefined);
    assert.deepEqual(failed.events, ["error: backend went away"]);
    let stored = false;
    const stream = teeWithin(source(["ab", "cd", "ef"]), 100, undefined, () => (stored = true), () => {});
    const reader = stream.getReader();
    await reader.read();
    await reader.cancel();
    assert.equal(stored, false);
  });
});
