import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeError } from "./problems.ts";

describe("describeError", () => {
  it("gives an Error's message, its subclasses' too, without the stack or the cause", () => {
    assert.equal(describeError(new Error("no such file")), "no such file");
    assert.equal(describeError(new TypeError("fetch failed", { cause: new Error("ECONNREFUSED") })), "fetch failed");
  });

  it("gives anything else thrown as text", () => {
    assert.equal(describeError("plain text"), "plain text");
    assert.equal(describeError(42), "42");
    assert.equal(describeError(undefined), "undefined");
    assert.equal(describeError(null), "null");
    assert.equal(describeError({ toString: () => "an object" }), "an object");
  });
});
