import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ROOT, tempDir } from "./harness.ts";
import { failures } from "./failures.ts";

// `npm run test:bun` (test/bun-suite.ts) on a small suite with a failing test in nested describe
// blocks: a real `bun test` writes the JUnit report, and the reasons are printed after its output.

const BUN = join(ROOT, "node_modules", ".bin", "bun");

const SAMPLE = `import { describe, it } from "node:test";
describe("outer <a & b>", () => {
  describe("inner", () => {
    it('fails "quoted"', () => { throw new Error('x < y & "z"\\nsecond line'); });
    it("passes", () => {});
  });
});
it("passes at the top", () => {});
`;

describe("the failure summary of npm run test:bun", () => {
  it("names each failed test with its describe blocks and prints its reason at the end, entities decoded", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "sample_test.ts"), SAMPLE);
    const report = join(dir, "report.xml");
    const run = spawnSync(BUN, [join(ROOT, "test", "bun-suite.ts"), "./sample_test.ts"], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, PORTICO_TEST_REPORT: report },
    });
    assert.equal(run.status, 1, run.stderr);
    const found = failures(readFileSync(report, "utf8"));
    assert.equal(found.length, 1);
    assert.equal(found[0]!.name, 'outer <a & b> > inner > fails "quoted"');
    assert.match(found[0]!.file, /sample_test\.ts$/);
    assert.match(found[0]!.text, /^Error: x < y & "z"\nsecond line\n/);
    // After Bun's own summary (which names the test only), the reason again.
    const tail = run.stderr.slice(run.stderr.lastIndexOf("Ran 3 tests"));
    assert.match(
      tail,
      /1 failed test\(s\), with the start of each reason:\n\n--- .*sample_test\.ts: outer <a & b> > inner > fails "quoted"\nError: x < y & "z"\nsecond line/,
    );
  });

  it("prints nothing more when every test passes, and exits 0", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "green_test.ts"), `import { it } from "node:test";\nit("passes", () => {});\n`);
    const run = spawnSync(BUN, [join(ROOT, "test", "bun-suite.ts"), "./green_test.ts"], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, PORTICO_TEST_REPORT: join(dir, "report.xml") },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /failed test\(s\)/);
  });
});
