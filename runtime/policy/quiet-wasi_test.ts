import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isWasiExperimentalWarning, loadNodeWasiQuietly } from "./quiet-wasi.ts";

describe("loading node:wasi without its start-up warning", () => {
  it("holds back only Node's experimental-feature warning for WASI", () => {
    const text = "WASI is an experimental feature and might change at any time";
    assert.ok(isWasiExperimentalWarning(text, "ExperimentalWarning"));
    assert.ok(isWasiExperimentalWarning(text, { type: "ExperimentalWarning" }));
    const error = Object.assign(new Error(text), { name: "ExperimentalWarning" });
    assert.ok(isWasiExperimentalWarning(error, undefined));
    assert.ok(!isWasiExperimentalWarning("VM Modules is an experimental feature and might change at any time", "ExperimentalWarning"));
    assert.ok(!isWasiExperimentalWarning(text, "DeprecationWarning"));
    assert.ok(!isWasiExperimentalWarning(text, undefined));
    assert.ok(!isWasiExperimentalWarning("Possible EventEmitter memory leak detected", "MaxListenersExceededWarning"));
  });

  it("leaves process.emitWarning as it found it", () => {
    const before = process.emitWarning;
    loadNodeWasiQuietly();
    assert.equal(process.emitWarning, before);
  });
});
