import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeEntry, encodeEntry } from "./entry.ts";

describe("cache entry encoding", () => {
  it("round-trips the status, headers (repeated ones too), times and body bytes", () => {
    const body = new Uint8Array([0, 1, 2, 255, 254]);
    const entry = {
      status: 200,
      headers: [["content-type", "application/json; charset=utf-8"], ["x-note", "é ✓"], ["x-note", "second"]] as [string, string][],
      storedAt: 1_700_000_000_123,
      expiresAt: 1_700_000_060_123,
      body,
    };
    const bytes = encodeEntry(entry);
    assert.equal(bytes.length, 21 + (1 + 12 + 4 + 31) + (1 + 6 + 4 + 6) + (1 + 6 + 4 + 6) + 5, "compact: the body is not re-encoded");
    const decoded = decodeEntry(bytes)!;
    assert.equal(decoded.status, 200);
    assert.deepEqual(decoded.headers, entry.headers);
    assert.equal(decoded.storedAt, entry.storedAt);
    assert.equal(decoded.expiresAt, entry.expiresAt);
    assert.deepEqual([...decoded.body], [...body]);
  });

  it("refuses bytes that are not an entry: another version, cut short, garbage", () => {
    const bytes = encodeEntry({ status: 200, headers: [["a", "b"]], storedAt: 1, expiresAt: 2, body: new Uint8Array(0) });
    assert.ok(decodeEntry(bytes));
    assert.equal(decodeEntry(bytes.subarray(0, bytes.length - 1)), undefined, "cut inside a header");
    assert.equal(decodeEntry(new Uint8Array([2, ...bytes.subarray(1)])), undefined, "another version");
    assert.equal(decodeEntry(new TextEncoder().encode("plain text that is no entry")), undefined);
    assert.equal(decodeEntry(new Uint8Array(3)), undefined);
  });
});
