import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CACHE_ENTRY_OVERHEAD, MemoryKV } from "./memory-kv.ts";

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
/** What one entry with a one-character key and an `n`-byte value counts. */
const cost = (n: number) => CACHE_ENTRY_OVERHEAD + 2 + n;

describe("MemoryKV (the internal cache store)", () => {
  it("gets what was set, until it is deleted", async () => {
    const kv = new MemoryKV(1024 * 1024);
    assert.equal(await kv.get("a"), undefined);
    await kv.set("a", bytes(3, 7), 60_000);
    assert.deepEqual(await kv.get("a"), bytes(3, 7));
    await kv.delete("a");
    assert.equal(await kv.get("a"), undefined);
    assert.equal(kv.bytes, 0);
    assert.equal(kv.entries, 0);
  });

  it("counts bytes for keys, values and each entry, and gives them back on overwrite and delete", () => {
    const kv = new MemoryKV(1024 * 1024);
    kv.setNow("a", bytes(100), 60_000);
    assert.equal(kv.bytes, cost(100));
    kv.setNow("a", bytes(10), 60_000);
    assert.equal(kv.bytes, cost(10), "an overwrite replaces the old value's bytes");
    kv.setNow("bb", bytes(10), 60_000);
    assert.equal(kv.bytes, cost(10) + cost(10) + 2);
    kv.deleteNow("a");
    assert.equal(kv.bytes, cost(10) + 2);
  });

  it("evicts the least recently used entries, in bytes, to stay within its budget", () => {
    const kv = new MemoryKV(3 * cost(1000));
    kv.setNow("a", bytes(1000), 60_000);
    kv.setNow("b", bytes(1000), 60_000);
    kv.setNow("c", bytes(1000), 60_000);
    assert.equal(kv.entries, 3);
    kv.getNow("a"); // a is now the most recently used; b the least
    kv.setNow("d", bytes(1000), 60_000);
    assert.equal(kv.getNow("b"), undefined, "the least recently used went");
    assert.ok(kv.getNow("a") && kv.getNow("c") && kv.getNow("d"));
    assert.equal(kv.evictions, 1);
    // One large entry pushes out as many others as it needs: here all of them.
    kv.setNow("e", bytes(3 * 1000 + 2 * CACHE_ENTRY_OVERHEAD), 60_000);
    assert.ok(kv.bytes <= kv.maxBytes);
    assert.equal(kv.entries, 1);
    assert.ok(kv.getNow("e"));
    assert.equal(kv.evictions, 4);
  });

  it("does not store a value larger than its whole budget, and keeps what it has", () => {
    const kv = new MemoryKV(cost(1000));
    kv.setNow("a", bytes(1000), 60_000);
    kv.setNow("b", bytes(1001), 60_000);
    assert.equal(kv.getNow("b"), undefined);
    assert.ok(kv.getNow("a"));
  });

  it("expires entries after their ttl, and takes 0 or less as a removal", () => {
    let now = 1_000;
    const kv = new MemoryKV(1024 * 1024, () => now);
    kv.setNow("a", bytes(1), 500);
    now = 1_499;
    assert.ok(kv.getNow("a"));
    now = 1_500;
    assert.equal(kv.getNow("a"), undefined, "expired at its ttl");
    assert.equal(kv.bytes, 0, "an expired entry read is dropped");
    kv.setNow("b", bytes(1), 500);
    kv.setNow("b", bytes(1), 0);
    assert.equal(kv.getNow("b"), undefined);
    assert.equal(kv.entries, 0);
  });

  it("does not count expired entries it drops to make room as evictions", () => {
    let now = 0;
    const kv = new MemoryKV(2 * cost(100), () => now);
    kv.setNow("a", bytes(100), 10);
    kv.setNow("b", bytes(100), 10_000);
    now = 20;
    kv.setNow("c", bytes(100), 10_000);
    assert.equal(kv.evictions, 0);
    assert.equal(kv.entries, 2);
  });

  it("costs the same per operation with 1,000 entries as with 200,000 (no scan)", () => {
    const measure = (entries: number) => {
      const width = String(Math.max(entries, 20_000)).length + 1;
      const key = (prefix: string, i: number) => prefix + String(i).padStart(width - 1, "0");
      const value = bytes(8);
      // Keys of one length, so every entry costs the same and the store is exactly full.
      const kv = new MemoryKV(entries * (CACHE_ENTRY_OVERHEAD + 2 * width + 8));
      for (let i = 0; i < entries; i++) kv.setNow(key("k", i), value, 60_000);
      assert.equal(kv.entries, entries);
      // Each new key evicts the oldest entry; each read moves one to the most recent end.
      const started = performance.now();
      for (let i = 0; i < 20_000; i++) {
        kv.setNow(key("m", i), value, 60_000);
        kv.getNow(key("k", (i * 7919) % entries));
      }
      const ms = performance.now() - started;
      assert.equal(kv.entries, entries);
      assert.equal(kv.evictions, 20_000);
      return ms;
    };
    // The best of three runs each, so a pause of the shared machine does not decide.
    const small = Math.min(measure(1_000), measure(1_000), measure(1_000));
    const large = Math.min(measure(200_000), measure(200_000), measure(200_000));
    // A scan per operation would make the large store about 200 times slower (seconds, not milliseconds).
    // A large Map is slower per operation too (CPU caches, GC: up to about 12 times measured on Deno
    // under load), so the margin is wide.
    assert.ok(large < small * 50 + 50, `1,000 entries: ${small.toFixed(1)} ms; 200,000 entries: ${large.toFixed(1)} ms for 40,000 operations`);
  });
});
