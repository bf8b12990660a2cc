import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseGrpcTimeout } from "./deadline.ts";

describe("grpc-timeout", () => {
  it("reads every unit", () => {
    assert.equal(parseGrpcTimeout("2H"), 7_200_000);
    assert.equal(parseGrpcTimeout("3M"), 180_000);
    assert.equal(parseGrpcTimeout("5S"), 5_000);
    assert.equal(parseGrpcTimeout("250m"), 250);
    assert.equal(parseGrpcTimeout("1500u"), 1.5);
    assert.equal(parseGrpcTimeout("2000000n"), 2);
    assert.equal(parseGrpcTimeout("99999999S"), 99_999_999_000);
  });

  it("is undefined when absent or malformed (no digits, more than 8 digits, unknown or missing unit, sign, space)", () => {
    for (const value of [undefined, "", "S", "123456789S", "10s", "10", "-1S", " 1S", "1.5S", "1S "]) {
      assert.equal(parseGrpcTimeout(value), undefined, String(value));
    }
  });
});
