import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { storableMs } from "./cache-control.ts";

describe("the backend's Cache-Control and cache-store's duration", () => {
  it("stores for the duration without a header or with directives that do not concern a shared cache", () => {
    assert.equal(storableMs(null, 60_000), 60_000);
    assert.equal(storableMs("public, must-revalidate", 60_000), 60_000);
  });

  it("keeps out no-store, private and no-cache responses, in any case and position", () => {
    for (const value of ["no-store", "public, No-Store", "private", 'private="set-cookie"', "no-cache", "max-age=60, no-cache"]) {
      assert.equal(storableMs(value, 60_000), 0, value);
    }
  });

  it("shortens the duration to max-age, and to s-maxage before max-age, never lengthens it", () => {
    assert.equal(storableMs("max-age=10", 60_000), 10_000);
    assert.equal(storableMs("max-age=10, s-maxage=20", 60_000), 20_000);
    assert.equal(storableMs('s-maxage="5"', 60_000), 5_000);
    assert.equal(storableMs("max-age=3600", 60_000), 60_000);
    assert.equal(storableMs("max-age=0", 60_000), 0);
    assert.equal(storableMs("max-age=soon", 60_000), 0, "a malformed age is stale at once");
  });
});
