import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "../../test/harness.ts";
import { AccessFields, createLogger, escapeLogText, jsonNumber, lineTime, type LogFormat, withLogSink } from "./log.ts";
import { redactingLogger } from "./redact.ts";

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

  it("json: numbers are written as JSON writes them, the access line's times (thousandths) digit by digit", () => {
    const values = [
      0,
      -0,
      1,
      200,
      0.001,
      0.01,
      0.1,
      0.5,
      1.5,
      1.05,
      1.005,
      2.25,
      10.1,
      999.999,
      123456.789,
      999_999_999.999,
      1e9,
      0.1 + 0.2,
      1 / 3,
      -1.5,
      1e-7,
      1e21,
      2 ** 53,
    ];
    for (let i = 0; i < 100_000; i++) values.push(Math.round(Math.random() * 10 ** (1 + (i % 12))) / 1000);
    for (const value of values) assert.equal(jsonNumber(value), JSON.stringify(value), String(value));
    for (const value of [NaN, Infinity, -Infinity]) assert.equal(jsonNumber(value), "null");
  });

  it("json: a line's time is the ISO 8601 of its millisecond, across seconds, days and years", () => {
    const starts = [Date.UTC(2026, 11, 4, 11, 59, 59, 990), Date.UTC(2024, 1, 29, 23, 59, 59, 0), Date.UTC(1999, 11, 31, 23, 59, 58, 995), 0];
    for (const start of starts) {
      for (let ms = start; ms < start + 3_000; ms += 7) assert.equal(lineTime(ms), new Date(ms).toISOString());
    }
    // Going back in time (a clock stepped back) is the same.
    assert.equal(lineTime(starts[1]!), new Date(starts[1]!).toISOString());
  });

  it("json: an access line written member by member (AccessFields) is the line a plain object with the same members gives", () => {
    const odd = `q"b\\s\n\u0000\u001b\u007f\u0085\u2028\u2029 ünï ✓ \ud83d\ude00 \udc00 \ud83d`;
    const full = new AccessFields();
    Object.assign(full, {
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      requestId: "3f9a1c2e-1b",
      clientIp: "::1",
      method: "POST",
      host: `h${odd}`,
      scheme: "https",
      protocol: "grpc",
      path: `/p${odd}`,
      status: 200,
      grpcStatus: 0,
      ms: 1.235,
      backendMs: 0.988,
      gatewayMs: 0.247,
      bytesIn: 12,
      bytesOut: 0,
      api: `a${odd}`,
      operation: `o${odd}`,
      product: `pr${odd}`,
      subscription: `s${odd}`,
      backend: "127.0.0.1:9000",
      policyFailures: ["p1", `p${odd}`],
      revision: 7,
    });
    const sparse = new AccessFields();
    Object.assign(sparse, {
      requestId: "r",
      clientIp: "10.0.0.1",
      method: "GET",
      host: "h",
      scheme: "http",
      path: "/",
      status: 404,
      ms: NaN,
      gatewayMs: Infinity,
    });
    for (const fields of [full, sparse, new AccessFields()]) {
      // The time member aside (the two lines may fall in different milliseconds).
      const untimed = (line: string) => line.replace(/^\{"time":"[^"]+"/, '{"time":""');
      const fast = written("json", (l) => l.access(fields));
      const general = written("json", (l) => l.access({ ...fields }));
      assert.equal(untimed(fast), untimed(general));
      assert.equal(fast.split("\n").length, 2, fast);
      assert.doesNotMatch(fast.slice(0, -1), /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, "no control character is written raw");
      assert.deepEqual(JSON.parse(fast).policyFailures, fields.policyFailures);
    }
    assert.equal(JSON.parse(written("json", (l) => l.access(full))).path, `/p${odd}`);
  });

  it("none writes nothing", () => {
    assert.equal(written("none", (l) => l.error("x", { y: 1 })), "");
  });
});

describe("levels", () => {
  it("skips event logs below the level and writes access lines whatever it is", () => {
    const lines: string[] = [];
    const logger = createLogger("json", { level: "warn", write: (line) => lines.push(line) });
    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    logger.error("e");
    logger.access({ status: 200 });
    assert.deepEqual(lines.map((l) => JSON.parse(l).level), ["warn", "error", "access"]);
  });

  it("debug writes every level; info (the default) every level but debug", () => {
    for (const [level, expected] of [["debug", ["debug", "info", "warn", "error"]], [undefined, ["info", "warn", "error"]]] as const) {
      const lines: string[] = [];
      const logger = createLogger("text", { level, write: (line) => lines.push(line) });
      logger.debug("d");
      logger.info("i");
      logger.warn("w");
      logger.error("e");
      assert.deepEqual(lines.map((l) => l.split(" ")[1]!.toLowerCase()), expected);
    }
  });

  it("the OTLP sink gets the events that pass the level and the access lines, also with format none, after redaction", () => {
    const sunk: unknown[] = [];
    const logger = withLogSink(createLogger("none", { level: "info" }), (level, message, fields) => sunk.push([level, message, fields]));
    assert.equal(logger.format, "json", "a silent logger with a sink still gets its fields built");
    const redacted = redactingLogger(logger, () => new Set(["s3cr3t"]));
    redacted.debug("skipped s3cr3t");
    redacted.info("said s3cr3t", { note: "s3cr3t" });
    redacted.access({ path: "/s3cr3t" });
    assert.deepEqual(sunk, [["info", "said ***", { note: "***" }], ["access", "request", { path: "/***" }]]);
  });
});

/**
 * A reader of a named pipe that can be stopped: `cat FIFO` as a child process. While it is stopped
 * (SIGSTOP) nobody drains the pipe, as with a log collector that stalls.
 */
function fifoReader(): { path: string; cat: ChildProcess; output: () => string; exited: Promise<void> } {
  const path = join(tempDir(), "log.fifo");
  execFileSync("mkfifo", [path]);
  const cat = spawn("cat", [path], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  cat.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => cat.on("exit", () => resolve()));
  return { path, cat, output: () => output, exited };
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs `body` with a JSON logger writing to a named pipe read by `cat`, then closes both. */
async function withPipedLogger(body: (logger: ReturnType<typeof createLogger>, output: () => string) => Promise<void>): Promise<void> {
  const reader = fifoReader();
  const logger = createLogger("json", { dest: reader.path });
  try {
    await body(logger, reader.output);
  } finally {
    await logger.close(2000);
    reader.cat.kill("SIGKILL");
    await reader.exited;
  }
}

/** Every line written so far, parsed. */
function records(output: string): Record<string, unknown>[] {
  return output.trim().split("\n").map((line) => JSON.parse(line));
}

describe("access lines, rendered when their batch goes", () => {
  it("carry the time they were logged at, not the time they were written, and go before a later event line, in order", async () => {
    await withPipedLogger(async (logger, output) => {
      const before = Date.now();
      logger.access({ seq: 0 });
      const after = Date.now();
      // The batch goes 20 ms later at the earliest; by then the clock has moved on.
      await until(() => output().includes('"seq":0'), "the first access line");
      await new Promise((r) => setTimeout(r, 30));
      logger.access({ seq: 1 });
      logger.access({ seq: 2 });
      logger.info("event");
      await until(() => output().includes('"event"'), "the event line");
      const lines = records(output());
      assert.deepEqual(lines.map((r) => r.seq ?? r.msg), [0, 1, 2, "event"]);
      assert.equal(lines[0]!.level, "access");
      const logged = Date.parse(lines[0]!.time as string);
      assert.ok(
        logged >= before && logged <= after,
        `logged at ${lines[0]!.time}, called between ${new Date(before).toISOString()} and ${new Date(after).toISOString()}`,
      );
    });
  });

  it("a line that cannot be made is counted as dropped (and reported as such), and the lines around it are written", async () => {
    await withPipedLogger(async (logger, output) => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      logger.access({ seq: 0 });
      logger.access({ seq: 1, broken: cyclic });
      logger.access({ seq: 2 });
      await until(() => /log lines dropped/.test(output()), "the drop notice");
      const lines = records(output());
      assert.deepEqual(lines.filter((r) => r.level === "access").map((r) => r.seq), [0, 2]);
      assert.equal(lines.at(-1)!.msg, "1 log lines dropped");
      assert.equal(logger.droppedLines, 1);
    });
  });
});

describe("the bounded buffer", () => {
  it("with a reader that does not read, writes return at once, lines beyond the buffer are dropped and counted, and a notice follows once it reads", async () => {
    const reader = fifoReader();
    const logger = createLogger("json", { dest: reader.path, bufferBytes: 64 * 1024 });
    try {
      logger.info("first");
      await until(() => reader.output().includes('"first"'), "the first line");
      process.kill(reader.cat.pid!, "SIGSTOP");
      const total = 5000;
      const padding = "x".repeat(200);
      let slowest = 0;
      const started = performance.now();
      for (let seq = 0; seq < total; seq++) {
        const t = performance.now();
        logger.access({ seq, padding });
        slowest = Math.max(slowest, performance.now() - t);
      }
      const elapsed = performance.now() - started;
      // ~1.2 MB of lines against a 64 KiB buffer and a 64 KiB pipe: most must have been dropped, none waited
      // for (a write that waited would wait forever: the reader stays stopped until the loop ends).
      assert.ok(logger.droppedLines > total / 2, `dropped ${logger.droppedLines} of ${total}`);
      assert.ok(slowest < 500, `slowest write took ${slowest.toFixed(1)} ms`);
      assert.ok(elapsed < 5000, `${total} writes took ${elapsed.toFixed(0)} ms`);
      // Still stopped a while later: nothing was written behind our back, the count holds.
      await new Promise((r) => setTimeout(r, 300));
      const dropped = logger.droppedLines;
      process.kill(reader.cat.pid!, "SIGCONT");
      await until(() => reader.output().includes(`"total":${dropped}}`), "the drop notice that counts them all");
      const records = reader.output().trim().split("\n").map((line) => JSON.parse(line));
      const access = records.filter((r) => r.level === "access").map((r) => r.seq as number);
      // One notice per spell of drops: a batch still waiting when the loop ended may find the buffer
      // written out (the pipe took it) and have only part of it dropped, after a first notice.
      const notices = records.filter((r) => /log lines dropped/.test(r.msg));
      assert.ok(notices.length >= 1, "a drop notice");
      for (const notice of notices) {
        assert.equal(notice.level, "warn");
        assert.equal(notice.msg, `${notice.dropped} log lines dropped`);
      }
      assert.equal(notices.reduce((sum, n) => sum + n.dropped, 0), dropped, "the notices count every dropped line once");
      assert.equal(notices.at(-1)!.total, dropped);
      assert.equal(access.length + dropped, total, "every line is either written or counted");
      assert.deepEqual(access, [...access].sort((a, b) => a - b), "written lines keep their order");
      assert.equal(access[0], 0, "the first lines went into the buffer");
    } finally {
      await logger.close(2000);
      reader.cat.kill("SIGKILL");
      await reader.exited;
    }
  });

  it("close() writes the buffered lines out; a line after close is counted as dropped", async () => {
    const reader = fifoReader();
    const logger = createLogger("text", { dest: reader.path });
    try {
      for (let i = 0; i < 1000; i++) logger.info(`line ${i}`);
      await logger.close();
      await until(() => reader.output().includes("line 999\n"), "the last line", 5000);
      assert.equal(reader.output().split("\n").length, 1001);
      assert.equal(logger.droppedLines, 0);
      logger.info("after close");
      assert.equal(logger.droppedLines, 1, "a line after close is counted, not written");
    } finally {
      reader.cat.kill("SIGKILL");
      await reader.exited;
    }
  });
});
