import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { closePayload, concat, encodeFrame, type Frame, FrameReader, OP, parseClose } from "./frames.ts";

/** Feeds `bytes` to a reader in pieces of `size` bytes; returns the frames and the first overflow with the offset into the whole stream. */
function read(bytes: Uint8Array, size: number, max = 1 << 30) {
  const frames: Frame[] = [];
  const reader = new FrameReader(max, (frame) => frames.push(frame));
  for (let at = 0; at < bytes.length; at += size) {
    const overflow = reader.feed(bytes.subarray(at, at + size));
    if (overflow) return { frames, overflow: { at: at + overflow.at, clean: overflow.clean }, reader };
  }
  return { frames, overflow: undefined, reader };
}

describe("WebSocket frames", () => {
  it("reads masked and unmasked frames of every length encoding, whatever the chunking", () => {
    const payloads = [new Uint8Array(0), new Uint8Array(125).fill(1), new Uint8Array(126).fill(2), new Uint8Array(70_000).fill(3)];
    for (const masked of [true, false]) {
      const stream = concat(payloads.map((p) => encodeFrame(OP.binary, p, masked)));
      for (const size of [1, 3, 7, 1000, stream.length]) {
        const { frames, overflow, reader } = read(stream, size);
        assert.equal(overflow, undefined);
        assert.equal(reader.atBoundary, true);
        assert.deepEqual(frames.map((f) => f.payload.length), payloads.map((p) => p.length), `masked ${masked}, chunks of ${size}`);
        frames.forEach((f, i) => assert.deepEqual(f.payload, payloads[i]));
      }
    }
  });

  it("reports a message over the limit at the header of the frame that passes it, across fragments", () => {
    const first = encodeFrame(OP.text, new Uint8Array(600), true);
    // A fragmented message: a text frame without FIN, then a continuation frame that passes 1000 bytes together.
    first[0] = OP.text;
    const second = encodeFrame(OP.continuation, new Uint8Array(600), true);
    const ping = encodeFrame(OP.ping, new Uint8Array(10), true);
    const stream = concat([ping, first, second]);
    const { overflow } = read(stream, stream.length, 1000);
    assert.deepEqual(overflow, { at: ping.length + first.length, clean: true });
    // A header split over two chunks is reported as not clean: part of it was passed on already.
    const split = read(stream, ping.length + first.length + 1, 1000);
    assert.equal(split.overflow?.clean, false);
    // Control frames and whole messages under the limit pass.
    assert.equal(read(concat([ping, encodeFrame(OP.binary, new Uint8Array(1000), false)]), 64, 1000).overflow, undefined);
  });

  it("is mid-frame between a header and the end of its payload", () => {
    const reader = new FrameReader(1 << 20);
    const frame = encodeFrame(OP.text, new Uint8Array(10), false);
    reader.feed(frame.subarray(0, 5));
    assert.equal(reader.atBoundary, false);
    reader.feed(frame.subarray(5));
    assert.equal(reader.atBoundary, true);
  });

  it("encodes close codes and reasons, and reads them back", () => {
    assert.deepEqual(parseClose(closePayload(1009, "message too big")), { code: 1009, reason: "message too big" });
    assert.deepEqual(parseClose(closePayload(1005)), { code: 1005, reason: "" });
    assert.equal(closePayload(1000, "x".repeat(200)).length, 125, "a close frame's payload fits a control frame");
  });
});
