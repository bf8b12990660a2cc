import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Accepted, tokenHash, VerifiedTokens } from "./cache.ts";

const entry = (until: number, generation = 0): Accepted => ({ claims: new Map(), payloadJson: "{}", until, generation });

describe("the verified-token cache", () => {
  it("keeps tokens until they expire, for the keys that verified them", () => {
    const cache = new VerifiedTokens(10);
    cache.set("a", entry(1_000));
    assert.ok(cache.get("a", 999, 0));
    assert.equal(cache.get("a", 999, 1), undefined, "another key generation");
    cache.set("b", entry(1_000));
    assert.equal(cache.get("b", 1_000, 0), undefined, "expired");
    assert.equal(cache.size, 0);
  });

  it("stays within its size, keeping recently used entries", () => {
    const cache = new VerifiedTokens(10);
    for (let i = 0; i < 1_000; i++) {
      cache.set(`k${i}`, entry(Infinity));
      assert.ok(cache.get("k0", 0, 0), `k0 kept by use at ${i}`);
      assert.ok(cache.size <= 10);
    }
    assert.equal(cache.get("k500", 0, 0), undefined);
    assert.ok(cache.get("k999", 0, 0));
  });

  it("keys tokens by their sha256, not their text", () => {
    assert.equal(tokenHash("abc"), "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
  });
});
