import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { DIGEST_KEY_LENGTH, MAX_PLAIN_KEY_LENGTH, storedKey } from "./state-key.ts";
import { ENTRY_BYTES, MemoryStateStore } from "./state.ts";

/** Bytes the store counts for a counter under a key of `length` code units kept as it is. */
const plainEntry = (length: number) => ENTRY_BYTES + 2 * length;
/** Bytes the store counts for a counter under a key held as its digest. */
const hashedEntry = ENTRY_BYTES + 2 * DIGEST_KEY_LENGTH;

describe("MemoryStateStore counters", () => {
  it("counts within a window that starts at the first increment, refuses past the limit, and starts again after it", () => {
    const store = new MemoryStateStore();
    assert.deepEqual(store.counterAdd("k", 1000, 1, 2, 10_000), { accepted: true, count: 1, resetMs: 1000 });
    assert.deepEqual(store.counterAdd("k", 1000, 1, 2, 10_400), { accepted: true, count: 2, resetMs: 600 });
    assert.deepEqual(store.counterAdd("k", 1000, 1, 2, 10_999), { accepted: false, count: 2, resetMs: 1 }, "a refused increment is not counted");
    assert.deepEqual(store.counterAdd("other", 1000, 1, 2, 10_999), { accepted: true, count: 1, resetMs: 1000 });
    assert.deepEqual(store.counterAdd("k", 1000, 1, 2, 11_000), { accepted: true, count: 1, resetMs: 1000 });
    assert.deepEqual(store.counterAdd("n", 1000, 5, -1, 0), { accepted: true, count: 5, resetMs: 1000 }, "a negative limit is no limit");
  });
});

describe("MemoryStateStore eviction", () => {
  it("drops the least recently used entry first when a new one would pass the budget", () => {
    // Room for exactly three counters with one-character keys.
    const store = new MemoryStateStore({ maxBytes: 3 * plainEntry(1) });
    for (const key of ["a", "b", "c"]) store.counterAdd(key, 60_000, 1, -1, 0);
    assert.equal(store.counterAdd("a", 60_000, 1, -1, 1).count, 2, "using a makes b the least recently used");
    store.counterAdd("d", 60_000, 1, -1, 2);
    assert.equal(store.entries, 3);
    assert.equal(store.evictions, 1);
    assert.equal(store.counterAdd("c", 60_000, 1, -1, 3).count, 2, "c was kept");
    assert.equal(store.counterAdd("a", 60_000, 1, -1, 3).count, 3, "a was kept");
    assert.equal(store.counterAdd("b", 60_000, 1, -1, 3).count, 1, "b was evicted: its counter starts again (and d goes to make room)");
    assert.equal(store.counterAdd("c", 60_000, 1, -1, 4).count, 3, "c is still there: d was the least recently used");
  });

  it("moves an entry to the most recently used end when its cached value is read", () => {
    const entry = ENTRY_BYTES + 2 * 1 + 2 * 1;
    const store = new MemoryStateStore({ maxBytes: 2 * entry });
    store.cacheSet("x", "1", 60_000, 0);
    store.cacheSet("y", "2", 60_000, 0);
    assert.equal(store.cacheGet("x", 1), "1");
    store.cacheSet("z", "3", 60_000, 2);
    assert.equal(store.cacheGet("y", 3), undefined, "y was the least recently used");
    assert.equal(store.cacheGet("x", 3), "1");
    assert.equal(store.cacheGet("z", 3), "3");
  });

  it("keeps the bytes it counts within the budget under a flood of distinct keys of every size, and counts them exactly", () => {
    const maxBytes = 64 * 1024;
    const store = new MemoryStateStore({ maxBytes, cacheValueLength: 4096 });
    let highest = 0;
    for (let i = 0; i < 5_000; i++) {
      const key = i % 3 === 0 ? `k${i}` : i % 3 === 1 ? `${"x".repeat(16 * 1024)}${i}` : `${"y".repeat(80)}${i}`;
      if (i % 5 === 0) store.cacheSet(key, "v".repeat(i % 4096), 60_000, i);
      else store.counterAdd(key, 60_000, 1, -1, i);
      highest = Math.max(highest, store.bytes);
      assert.ok(store.bytes <= maxBytes, `${store.bytes} bytes after ${i + 1} keys`);
    }
    assert.ok(highest > maxBytes - 8 * 1024, `the budget was used (${highest} bytes at most)`);
    assert.ok(store.evictions > 4_000, `${store.evictions} evictions`);
    assert.ok(store.entries > 20, `${store.entries} entries`);
  });

  it("drops expired entries at the least recently used end without counting them as evictions", () => {
    const store = new MemoryStateStore({ maxBytes: 10 * plainEntry(2) });
    for (let i = 0; i < 10; i++) store.counterAdd(`s${i}`, 10, 1, -1, 0);
    assert.equal(store.bytes, 10 * plainEntry(2));
    // At t=100 every window above has ended: each new key drops up to two of them first.
    for (let i = 0; i < 4; i++) store.counterAdd(`n${i}`, 60_000, 1, -1, 100);
    assert.equal(store.entries, 6, "8 expired counters went for 4 new ones");
    assert.equal(store.bytes, 6 * plainEntry(2));
    for (let i = 4; i < 10; i++) store.counterAdd(`n${i}`, 60_000, 1, -1, 100);
    assert.equal(store.entries, 10);
    assert.equal(store.evictions, 0, "the budget was not passed yet");
    for (let i = 0; i < 10; i++) store.counterAdd(`p${i}`, 60_000, 1, -1, 100);
    assert.equal(store.entries, 10);
    assert.equal(store.evictions, 10, "the live counters n0..n9 were evicted, and counted");
    assert.equal(store.counterAdd("p9", 60_000, 1, -1, 101).count, 2);
  });
});

describe("MemoryStateStore keys", () => {
  it("holds a key longer than the plain limit as its SHA-256 digest: a 16 KiB key costs what a 100-character one does", () => {
    const store = new MemoryStateStore();
    store.counterAdd("x".repeat(16 * 1024), 60_000, 1, -1, 0);
    assert.equal(store.bytes, hashedEntry);
    store.counterAdd("y".repeat(MAX_PLAIN_KEY_LENGTH + 1), 60_000, 1, -1, 0);
    assert.equal(store.bytes, 2 * hashedEntry);
    store.counterAdd("z".repeat(MAX_PLAIN_KEY_LENGTH), 60_000, 1, -1, 0);
    assert.equal(store.bytes, 2 * hashedEntry + plainEntry(MAX_PLAIN_KEY_LENGTH), "a key at the limit is kept as it is");
    assert.equal(storedKey("x".repeat(16 * 1024)), createHash("sha256").update("x".repeat(16 * 1024)).digest("hex"));
  });

  it("keeps long keys that differ only at the end apart, and never takes a key for the digest it looks like", () => {
    const store = new MemoryStateStore();
    const long = `${"k".repeat(16 * 1024)}`;
    assert.equal(store.counterAdd(`${long}a`, 60_000, 1, -1, 0).count, 1);
    assert.equal(store.counterAdd(`${long}b`, 60_000, 1, -1, 0).count, 1);
    assert.equal(store.counterAdd(`${long}a`, 60_000, 1, -1, 0).count, 2);
    const digest = storedKey(`${long}a`);
    assert.equal(digest.length, DIGEST_KEY_LENGTH);
    assert.equal(store.counterAdd(digest, 60_000, 1, -1, 0).count, 1, "a key that spells the digest has its own counter");
    assert.notEqual(storedKey(digest), digest);
  });

  it("keeps apart long keys that differ only in lone surrogates (which UTF-8 would merge)", () => {
    const store = new MemoryStateStore();
    const one = `${"a".repeat(100)}\ud800`;
    const two = `${"a".repeat(100)}\udc00`;
    const replaced = `${"a".repeat(100)}\ufffd`;
    assert.equal(store.counterAdd(one, 60_000, 1, -1, 0).count, 1);
    assert.equal(store.counterAdd(two, 60_000, 1, -1, 0).count, 1);
    assert.equal(store.counterAdd(replaced, 60_000, 1, -1, 0).count, 1);
    assert.equal(store.entries, 3);
  });
});

describe("MemoryStateStore cache and slots", () => {
  it("expires cache entries, frees their bytes, and refuses oversized values", () => {
    const store = new MemoryStateStore({ cacheValueLength: 10 });
    store.cacheSet("a", "12345", 100, 0);
    assert.equal(store.bytes, ENTRY_BYTES + 2 + 10);
    assert.equal(store.cacheGet("a", 99), "12345");
    assert.equal(store.cacheGet("a", 100), undefined);
    assert.equal(store.entries, 0);
    assert.equal(store.bytes, 0);
    assert.throws(() => store.cacheSet("big", "x".repeat(11), 1000, 0), /larger than the limit/);
    store.cacheSet("b", "1", 1000, 0);
    store.cacheSet("b", "", 0, 1);
    assert.equal(store.cacheGet("b", 2), undefined, "a TTL of 0 removes the entry");
    assert.equal(store.bytes, 0);
  });

  it("keeps a key's counter when its cached value expires, and counts a value replaced by a longer one", () => {
    const store = new MemoryStateStore();
    store.counterAdd("k", 60_000, 1, -1, 0);
    store.cacheSet("k", "ab", 10, 0);
    assert.equal(store.entries, 1, "one key, one entry");
    store.cacheSet("k", "abcd", 10, 1);
    assert.equal(store.bytes, ENTRY_BYTES + 2 + 8);
    assert.equal(store.cacheGet("k", 20), undefined);
    assert.equal(store.bytes, ENTRY_BYTES + 2);
    assert.equal(store.counterAdd("k", 60_000, 1, -1, 20).count, 2);
  });

  it("hands out at most max slots per key and takes each back once", () => {
    const store = new MemoryStateStore();
    const one = store.acquire("k", 2)!;
    const two = store.acquire("k", 2)!;
    assert.equal(store.acquire("k", 2), undefined);
    assert.ok(store.acquire("other", 2));
    one();
    one();
    assert.ok(store.acquire("k", 2), "a released slot is free again");
    assert.equal(store.acquire("k", 2), undefined, "releasing twice freed only one slot");
    two();
  });

  it("holds slots of long keys by digest and forgets a key once its last slot is back", () => {
    const store = new MemoryStateStore();
    const release = store.acquire("s".repeat(16 * 1024), 1)!;
    assert.equal(store.acquire("s".repeat(16 * 1024), 1), undefined);
    assert.ok(store.acquire(`${"s".repeat(16 * 1024)}t`, 1), "another long key has its own slots");
    release();
    assert.equal(store.slotKeys, 1);
  });
});
