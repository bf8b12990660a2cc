import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger, escapeLogText, type LogFormat } from "./log.ts";

/** Everything a logger of `format` writes for one call. */
function written(format: LogFormat, log: (logger: ReturnType<typeof createLogger>) => void): string {
  let out = "";
  log(createLogger(format, (line) => (out += line)));
  return out;
}

const FORGED = "ok\n2026-01-01T00:00:00.000Z ERROR forged line user=admin";

describe("log lines", () => {
  it("text: a newline in a message or a field value is escaped, so the event stays one line", () => {
    const out = written("text", (l) => l.warn(`policy says ${FORGED}`, { policy: "p", note: FORGED, detail: { text: FORGED } }));
    assert.equal(out.split("\n").length, 2, out);
    assert.ok(out.endsWith("\n"));
    assert.match(out, /^\S+ WARN {2}policy says ok\\n2026-01-01T00:00:00\.000Z ERROR forged line user=admin policy=p note=ok\\n2026/);
    assert.ok(out.includes('detail={"text":"ok\\n2026'), out);
  });

  it("text: escapes every control character, DEL, C1 and the Unicode line separators, and doubles backslashes", () => {
    assert.equal(escapeLogText("a\r\nb\tc"), "a\\r\\nb\\tc");
    assert.equal(escapeLogText("\u0000\u001b[31m\u007f\u009b\u2028\u2029"), "\\u0000\\u001b[31m\\u007f\\u009b\\u2028\\u2029");
    assert.equal(escapeLogText("C:\\temp\\n"), "C:\\\\temp\\\\n", "a literal backslash-n stays distinguishable from an escaped newline");
    assert.equal(escapeLogText("plain text, ünïcode ✓"), "plain text, ünïcode ✓");
    const out = written("text", (l) => l.info("m", { ["k\ney"]: 1, v: "\u001b]0;title\u0007", obj: ["\u0085"] }));
    assert.equal(out, `${out.slice(0, 24)} INFO  m k\\ney=1 v=\\u001b]0;title\\u0007 obj=["\\u0085"]\n`);
  });

  it("json: a field value with newlines and control characters stays one line and parses back to the same value", () => {
    const value = `${FORGED}\r\u0000\u001b[2J\u007f\u009b\u2028\u2029`;
    const out = written("json", (l) => l.error(value, { note: value, nested: { list: [value] } }));
    assert.equal(out.split("\n").length, 2, out);
    assert.doesNotMatch(out.slice(0, -1), /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, "no control character is written raw");
    const record = JSON.parse(out);
    assert.equal(record.level, "error");
    assert.equal(record.msg, value);
    assert.equal(record.note, value);
    assert.deepEqual(record.nested, { list: [value] });
  });

  it("none writes nothing", () => {
    assert.equal(written("none", (l) => l.error("x", { y: 1 })), "");
  });
});
