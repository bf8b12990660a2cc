import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { goldenDifferences, goldenOutputs } from "./golden.ts";

describe("golden translations (config/snapshot/golden)", () => {
  it("translate every case exactly as recorded; `npm run golden` rewrites them after a deliberate change", () => {
    const { changed, stale } = goldenDifferences();
    assert.deepEqual(
      changed.map((f) => f.path),
      [],
      `outputs that differ from config/snapshot/golden (review the change, then run npm run golden):\n${
        changed.map((f) => `--- ${f.path}\n${f.text}`).join("\n")
      }`,
    );
    assert.deepEqual(stale, [], "outputs on disk that no case produces any more");
  });

  it("cover standalone files, a failing build with every problem, and a control plane's views for two gateways", () => {
    const paths = goldenOutputs().map((f) => f.path);
    for (
      const expected of [
        "standalone/routing/snapshot.json",
        "standalone/policies/snapshot.json",
        "standalone/tls/snapshot.json",
        "standalone/problems/problems.txt",
        "control-plane/two-gateways/views/edge-1.json",
        "control-plane/two-gateways/snapshots/edge-2.json",
      ]
    ) {
      assert.ok(paths.includes(expected), `${expected} is produced`);
    }
  });
});
