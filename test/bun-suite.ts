/**
 * `npm run test:bun`: runs `bun test` with the suite's timeout and any arguments given (files,
 * filters), writing a JUnit report beside its usual output; when a test fails, prints each
 * failure's reason again at the end (test/failures.ts), since Bun's closing summary gives only
 * the titles. Exits with `bun test`'s status.
 *
 * Usage: bun test/bun-suite.ts [bun test arguments]. The report goes to `.portico/bun-tests.xml`
 * (or to `PORTICO_TEST_REPORT`).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { failures, summary } from "./failures.ts";

const report = process.env.PORTICO_TEST_REPORT ?? join(fileURLToPath(new URL("..", import.meta.url)), ".portico", "bun-tests.xml");
mkdirSync(dirname(report), { recursive: true });
// A report left by an earlier run must not be taken for this one's.
rmSync(report, { force: true });
const run = spawnSync(
  process.execPath,
  ["test", "--timeout", "300000", "--reporter=junit", `--reporter-outfile=${report}`, ...process.argv.slice(2)],
  { stdio: "inherit" },
);
if (run.status !== 0) {
  let xml: string | undefined;
  try {
    xml = readFileSync(report, "utf8");
  } catch {
    process.stderr.write(`\nbun test wrote no report to ${report}: see its output above\n`);
  }
  if (xml !== undefined) process.stderr.write(summary(failures(xml)));
}
process.exit(run.status ?? 1);
