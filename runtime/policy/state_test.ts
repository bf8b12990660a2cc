import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryStateStore } from "./state.ts";

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

  it("stays within its size limit under a flood of distinct keys, dropping expired windows first", () => {
    const store = new MemoryStateStore({ counters: 100, cacheEntries: 10, cacheValueLength: 10 });
    store.counterAdd("long-lived", 1_000_000, 1, -1, 0);
    for (let i = 0; i < 99; i++) store.counterAdd(`short-${i}`, 10, 1, -1, 0);
    for (let i = 0; i < 1000; i++) store.counterAdd(`flood-${i}`, 1000, 1, -1, 100);
    assert.ok(store.sizes.counters <= 100, `${store.sizes.counters} counters`);
  });
});

describe("MemoryStateStore cache and slots", () => {
  it("expires cache entries, bounds them, and refuses oversized values", () => {
    const store = new MemoryStateStore({ counters: 10, cacheEntries: 3, cacheValueLength: 10 });
    store.cacheSet("a", "1", 100, 0);
    assert.equal(store.cacheGet("a", 99), "1");
    assert.equal(store.cacheGet("a", 100), undefined);
    for (const k of ["b", "c", "d", "e"]) store.cacheSet(k, k, 1000, 0);
    assert.equal(store.sizes.cache, 3);
    assert.equal(store.cacheGet("b", 1), undefined, "the oldest went first");
    assert.equal(store.cacheGet("e", 1), "e");
    assert.throws(() => store.cacheSet("big", "x".repeat(11), 1000, 0), /larger than the limit/);
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
});
