/**
 * Event and access logs for one process: one line per event, in the format of
 * `telemetry.logs.std`, written through a bounded asynchronous buffer so that a slow or stalled
 * reader of stdout never blocks a request (lines that do not fit are dropped and counted; see
 * docs/observability.md).
 */
import { type Destination, openDestination } from "./log-destination.ts";

/** How logs are written to stdout: JSON lines, human-readable text, or not at all. */
export type LogFormat = "json" | "text" | "none";

/** Severity of an event log (`telemetry.logs.std.level` is the lowest one written). */
export type LogLevel = "debug" | "info" | "warn" | "error";

type Fields = Record<string, unknown>;

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Structured event and access logs for one process. Disabled levels cost one call and nothing else. */
export interface Logger {
  readonly format: LogFormat;
  /** The lowest level written (absent: every level), so a wrapper can skip work for the others. */
  readonly level?: LogLevel;
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  /**
   * One line per request, logged when the response headers are ready (whatever the level). A
   * logger writing to its own destination renders the line later, with the others of its batch,
   * from these fields and the time of this call: they must not change after the call.
   */
  access(fields: Fields): void;
}

/**
 * Characters never written raw, in either format: C0 controls (a newline would start a forged
 * line), DEL and C1 controls (terminal escape sequences), and the Unicode line and paragraph
 * separators (line breaks to some viewers). Messages and field values can come from policies and
 * requests, so one event must stay one line whatever they hold.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const CONTROL_ALL = new RegExp(CONTROL.source, "g");

/** What the text format escapes: the control characters above, and the backslash (so an escape in the output is never ambiguous). */
const TEXT_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\\]/;
const TEXT_UNSAFE_ALL = new RegExp(TEXT_UNSAFE.source, "g");

const SHORT: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\" };

function unicodeEscape(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/**
 * Text for the `text` format: control characters as `\n`, `\r`, `\t` or `\uXXXX`, backslashes
 * doubled, everything else as is.
 */
export function escapeLogText(text: string): string {
  return TEXT_UNSAFE.test(text) ? text.replace(TEXT_UNSAFE_ALL, (char) => SHORT[char] ?? unicodeEscape(char)) : text;
}

/**
 * A JSON line: `JSON.stringify` already escapes C0 controls (so a newline never ends the line); DEL,
 * C1 controls and U+2028/U+2029, which it leaves raw, are written as `\uXXXX` too (still the same JSON).
 */
function jsonLine(time: string, level: string, message: string, fields: Fields | undefined): string {
  if (fields instanceof AccessFields) return accessJson(time, level, message, fields);
  // Member by member rather than JSON.stringify of a spread copy: the same JSON (undefined members
  // left out, `time`, `level` and `msg` first and not overridden by fields of those names) for about
  // half the cost of an access line (measured on Bun: 6.3 µs for 20 fields before, see bench/RESULTS.md).
  let json = `{"time":"${time}","level":"${level}","msg":${JSON.stringify(message)}`;
  if (fields) {
    for (const key in fields) {
      const value = fields[key];
      if (value === undefined || key === "time" || key === "level" || key === "msg") continue;
      const encoded = typeof value === "string"
        ? JSON.stringify(value)
        : typeof value === "number"
        ? (Number.isFinite(value) ? String(value) : "null")
        : JSON.stringify(value);
      if (encoded === undefined) continue;
      json += `,${memberName(key)}:${encoded}`;
    }
  }
  json += "}";
  return `${CONTROL.test(json) ? json.replace(CONTROL_ALL, unicodeEscape) : json}\n`;
}

/**
 * The members of one access line, in the order they are written (`RequestRecord.accessFields`
 * fills them). An access line is written for every request, so the JSON format writes an object of
 * this class member by member in this fixed order (`accessJson`) instead of walking a general object:
 * the same line for a little over half the cost (in process on Bun, 1.43 against 2.55 µs with a no-op
 * destination; bench/RESULTS.md, 2026-12-03 10:15). Any other object (a redacted copy, a test's fields)
 * takes the general path; both give the same JSON for the same members.
 */
export class AccessFields {
  [member: string]: unknown;
  traceId: string | undefined = undefined;
  spanId: string | undefined = undefined;
  requestId = "";
  clientIp = "";
  method = "";
  host = "";
  scheme = "";
  protocol: string | undefined = undefined;
  path = "";
  status = 0;
  grpcStatus: number | undefined = undefined;
  ms = 0;
  backendMs: number | undefined = undefined;
  gatewayMs = 0;
  bytesIn: number | undefined = undefined;
  bytesOut: number | undefined = undefined;
  api: string | undefined = undefined;
  operation: string | undefined = undefined;
  product: string | undefined = undefined;
  subscription: string | undefined = undefined;
  backend: string | undefined = undefined;
  policyFailures: readonly string[] | undefined = undefined;
  revision: number | undefined = undefined;
}

/** JSON.stringify's output with what it leaves raw (see CONTROL) escaped, as `jsonLine` escapes its lines. */
function escapedJson(encoded: string): string {
  return CONTROL.test(encoded) ? encoded.replace(CONTROL_ALL, unicodeEscape) : encoded;
}

/**
 * What makes a string's JSON (as `jsonLine` writes it) more than the string in quotes: what
 * JSON.stringify escapes (the quote, the backslash, C0 controls, lone surrogates: the whole
 * surrogate range is listed, so a string with a pair takes the long way too) and CONTROL.
 */
const JSON_UNSAFE = /["\\\u0000-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff]/;

/**
 * A string member's JSON, as `jsonLine` writes it: most values (an address, a method, a host, a
 * plain path) need no escape and are quoted as they are; JSON.stringify was about 2.6 µs of a
 * request's access line on Bun (CPU profile, bench/RESULTS.md 2026-12-04).
 */
function jsonString(value: string): string {
  return JSON_UNSAFE.test(value) ? escapedJson(JSON.stringify(value)) : `"${value}"`;
}

/**
 * A number member's JSON, as `jsonLine` writes numbers. The access line's times are positive with
 * at most three decimals (`round3`): those are written from their thousandths, the same digits
 * `String` gives (an exact thousandth below 10^9 has no shorter form) at about a third of its
 * cost on Node (110 ns against 34) and half on Bun.
 */
export function jsonNumber(value: number): string {
  const thousandths = Math.round(value * 1000);
  if (thousandths > 0 && thousandths < 1e12 && thousandths / 1000 === value) {
    const whole = Math.floor(thousandths / 1000);
    const part = thousandths - whole * 1000;
    if (part === 0) return String(whole);
    // Three digits, then the trailing zeros JSON does not write.
    const digits = part < 10 ? `00${part}` : part < 100 ? `0${part}` : String(part);
    return `${whole}.${part % 100 === 0 ? digits.slice(0, 1) : part % 10 === 0 ? digits.slice(0, 2) : digits}`;
  }
  return Number.isFinite(value) ? String(value) : "null";
}

/** `jsonLine` for an access line's fields (see AccessFields): the same JSON, written member by member. */
function accessJson(time: string, level: string, message: string, f: AccessFields): string {
  let json = `{"time":"${time}","level":"${level}","msg":${jsonString(message)}`;
  if (f.traceId !== undefined) json += `,"traceId":${jsonString(f.traceId)}`;
  if (f.spanId !== undefined) json += `,"spanId":${jsonString(f.spanId)}`;
  json += `,"requestId":${jsonString(f.requestId)},"clientIp":${jsonString(f.clientIp)},"method":${jsonString(f.method)},"host":${
    jsonString(f.host)
  },"scheme":${jsonString(f.scheme)}`;
  if (f.protocol !== undefined) json += `,"protocol":${jsonString(f.protocol)}`;
  json += `,"path":${jsonString(f.path)},"status":${jsonNumber(f.status)}`;
  if (f.grpcStatus !== undefined) json += `,"grpcStatus":${jsonNumber(f.grpcStatus)}`;
  json += `,"ms":${jsonNumber(f.ms)}`;
  if (f.backendMs !== undefined) json += `,"backendMs":${jsonNumber(f.backendMs)}`;
  json += `,"gatewayMs":${jsonNumber(f.gatewayMs)}`;
  if (f.bytesIn !== undefined) json += `,"bytesIn":${jsonNumber(f.bytesIn)}`;
  if (f.bytesOut !== undefined) json += `,"bytesOut":${jsonNumber(f.bytesOut)}`;
  if (f.api !== undefined) json += `,"api":${jsonString(f.api)}`;
  if (f.operation !== undefined) json += `,"operation":${jsonString(f.operation)}`;
  if (f.product !== undefined) json += `,"product":${jsonString(f.product)}`;
  if (f.subscription !== undefined) json += `,"subscription":${jsonString(f.subscription)}`;
  if (f.backend !== undefined) json += `,"backend":${jsonString(f.backend)}`;
  if (f.policyFailures !== undefined) json += `,"policyFailures":${escapedJson(JSON.stringify(f.policyFailures))}`;
  if (f.revision !== undefined) json += `,"revision":${jsonNumber(f.revision)}`;
  return `${json}}\n`;
}

/** Member names as JSON, remembered: the same few names recur on every line. */
const MEMBER_NAMES = new Map<string, string>();

function memberName(key: string): string {
  let name = MEMBER_NAMES.get(key);
  if (name === undefined) {
    name = JSON.stringify(key);
    if (MEMBER_NAMES.size < 1024) MEMBER_NAMES.set(key, name);
  }
  return name;
}

/**
 * The time of a line in ISO 8601, made once per millisecond (many lines share one) from the
 * second's text, made once per second: `toISOString` costs about 750 ns on Node and 250 on Bun,
 * and under load most requests see a new millisecond.
 */
let lastMs = 0;
let lastTime = "";
let lastSecond = -1;
/** `YYYY-MM-DDTHH:MM:SS.` of `lastSecond`. */
let secondText = "";

export function lineTime(now = Date.now()): string {
  if (now !== lastMs) {
    lastMs = now;
    const second = Math.floor(now / 1000);
    if (second !== lastSecond) {
      lastSecond = second;
      secondText = new Date(second * 1000).toISOString().slice(0, 20);
    }
    const ms = now - second * 1000;
    lastTime = `${secondText}${ms < 10 ? "00" : ms < 100 ? "0" : ""}${ms}Z`;
  }
  return lastTime;
}

function textLine(time: string, level: string, message: string, fields: Fields | undefined): string {
  let line = `${time} ${level.toUpperCase().padEnd(5)} ${escapeLogText(message)}`;
  if (fields) {
    for (const key in fields) {
      const value = fields[key];
      if (value === undefined) continue;
      // JSON.stringify escapes what it writes; a raw string is escaped here.
      line += ` ${escapeLogText(key)}=${typeof value === "string" ? escapeLogText(value) : JSON.stringify(value)}`;
    }
  }
  return `${CONTROL.test(line) ? line.replace(CONTROL_ALL, unicodeEscape) : line}\n`;
}

/** A logger that owns its output: the count of dropped lines, and flushing for shutdown. */
export interface StdLogger extends Logger {
  /** Lines not written because the buffer was full or stdout was gone (for metrics). */
  readonly droppedLines: number;
  /** Writes what is buffered now, synchronously and best effort (for exit paths; bounded in time). */
  flush(): void;
  /** Waits until what is buffered is written (at most `timeoutMs`), then stops writing; later lines are dropped. */
  close(timeoutMs?: number): Promise<void>;
}

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** Lowest event level written (default `info`); access lines are written whatever it is. */
  readonly level?: LogLevel;
  /** Bytes of lines held while stdout does not take them (default 4 MiB); beyond that lines are dropped. */
  readonly bufferBytes?: number;
  /** Where lines go instead of the buffered destination (tests); called synchronously per line. */
  readonly write?: (line: string) => void;
  /** File descriptor or path of the buffered destination (default 1, stdout). */
  readonly dest?: number | string;
}

/** The default `telemetry.logs.buffer`. */
export const DEFAULT_LOG_BUFFER = 4 * 1024 * 1024;

/** Longest a line waits before it is handed to the destination with the others of its batch. */
const BATCH_MS = 20;

/**
 * A batch of lines is handed over early once it holds this many characters: an eighth of the
 * buffer (`telemetry.logs.buffer`), between 56 KiB and 256 KiB. An asynchronous write costs far more
 * than its bytes (on Bun, one of 160 KiB cost no more CPU than one of 40 KiB, 26 to 129 µs, and
 * inside a loaded gateway a 39 KiB write held the thread 170 to 210 µs: bench/RESULTS.md,
 * 2026-12-05 13:30), so batches are as large as the buffer comfortably allows. A batch that does
 * not fit in what is left of the buffer is handed over line by line, so that what is dropped when
 * the buffer is full is the lines that did not fit, not the whole batch.
 */
function maxBatchChars(bufferBytes: number): number {
  return Math.min(256 * 1024, Math.max(56 * 1024, Math.floor(bufferBytes / 8)));
}

/**
 * A batch of access lines goes early once this many wait (about 160 KiB of typical lines), so the
 * fields waiting to be rendered stay bounded whatever the request rate; below about 25,000 requests
 * a second a batch goes by its age (BATCH_MS) first.
 */
const MAX_BATCH_LINES = 512;

/** How long a synchronous flush at exit keeps retrying a destination that takes nothing. */
const EXIT_FLUSH_MS = 1000;

/** Loggers whose buffered lines are written synchronously when the process exits. */
const open = new Set<StdLogger>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // `exit` runs on process.exit (both signal paths of runtime/cli/main.ts) and at the natural end;
  // no event loop is left, so what is buffered is written synchronously, within EXIT_FLUSH_MS.
  process.on("exit", () => {
    for (const logger of open) logger.flush();
  });
}

const noop = () => {};

/**
 * A logger in the chosen format, writing to `options.write` if given, else to stdout through a
 * bounded asynchronous buffer of `options.bufferBytes`. Either way an event is exactly one line: no
 * field value can start another (see CONTROL). Event logs below `options.level` are skipped; when
 * the buffer is full lines are dropped (never waited for), counted in `droppedLines`, and one
 * warning line says how many once stdout takes lines again. `write` may also be a function, as before.
 */
export function createLogger(format: LogFormat, options: LoggerOptions | ((line: string) => void) = {}): StdLogger {
  const opts: LoggerOptions = typeof options === "function" ? { write: options } : options;
  const threshold = RANK[opts.level ?? "info"];
  let dropped = 0;
  let unreported = 0;
  let closed = false;
  let destination: Destination | undefined;
  /**
   * Writes a rendered line: with `options.write` every line at once; to a destination (where access
   * lines wait in `waitingFields` instead), an event line at once, with the waiting access lines ahead of it.
   */
  let put: (line: string, now: boolean) => void = noop;
  /**
   * Access lines not written yet, as their fields and the time each was logged at: they are rendered
   * together when their batch goes (see `queueAccess`).
   */
  let waitingFields: Fields[] = [];
  let waitingTimes: number[] = [];
  let pushBatch: (event?: string) => void = noop;
  const render = (level: LogLevel | "access", message: string, fields: Fields | undefined, now?: number): string => {
    const time = lineTime(now);
    return format === "json" ? jsonLine(time, level, message, fields) : textLine(time, level, message, fields);
  };
  /** Puts an access line in the waiting batch, rendered when the batch goes; a destination logger only. */
  let queueAccess: (fields: Fields) => void = noop;
  if (format !== "none") {
    if (opts.write) put = opts.write;
    else {
      const bufferBytes = opts.bufferBytes ?? DEFAULT_LOG_BUFFER;
      const dest = openDestination(opts.dest ?? 1, bufferBytes);
      const batchChars = maxBatchChars(bufferBytes);
      destination = dest;
      // Access lines are handed to the destination together, at most BATCH_MS after the first of
      // them, rather than one write per line: each write to stdout costs the gateway's thread far
      // more than rendering a line (profiled on Bun under load: 17 % of the process's time in
      // sonic-boom's writes, against about 1.6 µs to render an access line). They are also
      // rendered together, when their batch goes: a request only keeps its fields and the time,
      // and the lines are made one after another (see docs/design/performance.md, "The access
      // line"). Event lines are rare and awaited by operators (start-up, a refused configuration):
      // they go at once, and take the waiting access lines with them so the order holds.
      const lost = (lines: number) => {
        dropped += lines;
        unreported += lines;
      };
      /** Hands `text` (`lines` whole lines) to the destination; what does not fit is dropped line by line. */
      const hand = (text: string, lines: number) => {
        if (lines === 0) return;
        if (closed) lost(lines);
        else if (!dest.write(text)) {
          // Too large for what is left of the buffer: as many lines as still fit, in order.
          let at = 0;
          let written = 0;
          while (at < text.length) {
            const newline = text.indexOf("\n", at);
            const end = newline < 0 ? text.length : newline + 1;
            if (!dest.write(text.slice(at, end))) break;
            at = end;
            written += 1;
          }
          lost(lines - written);
        }
      };
      pushBatch = (event) => {
        const fields = waitingFields;
        const times = waitingTimes;
        let text = "";
        let lines = 0;
        if (fields.length > 0) {
          waitingFields = [];
          waitingTimes = [];
          for (let i = 0; i < fields.length; i++) {
            // Rendered in a timer now, not in the request: a line that cannot be made (fields a
            // caller broke) is counted as dropped rather than ending the process.
            try {
              text += render("access", "request", fields[i], times[i]);
            } catch {
              lost(1);
              continue;
            }
            lines += 1;
            if (text.length >= batchChars) {
              hand(text, lines);
              text = "";
              lines = 0;
            }
          }
        }
        if (event !== undefined) {
          text += event;
          lines += 1;
        }
        hand(text, lines);
      };
      // One timer at a time, and a batch goes when its oldest line has waited BATCH_MS (or when it is
      // full), not whenever a timer fires: under load a timer fires early (armed for 20 ms, Bun's
      // fired after 2 to 12 ms, the event loop's clock being read once per turn of a long turn), and a
      // full batch's timer, left running, sent the next batch after a few lines. Batches were half
      // full on average, and each write costs the gateway's thread far more than a line (bench/RESULTS.md,
      // 2026-12-05 11:00).
      // The batch's age is read on the monotonic clock: a wall clock set back must not hold lines.
      let timerArmed = false;
      let firstWaitingAt = 0;
      const arm = (ms: number) => {
        timerArmed = true;
        (setTimeout(flushWaiting, ms) as { unref?: () => void }).unref?.();
      };
      const flushWaiting = () => {
        timerArmed = false;
        if (waitingFields.length === 0) return;
        const left = firstWaitingAt + BATCH_MS - performance.now();
        if (left >= 1) arm(left);
        else pushBatch();
      };
      queueAccess = (fields) => {
        if (waitingFields.length === 0) firstWaitingAt = performance.now();
        if (!timerArmed) arm(BATCH_MS);
        waitingFields.push(fields);
        waitingTimes.push(Date.now());
        if (waitingFields.length >= MAX_BATCH_LINES) pushBatch();
      };
      put = (line) => pushBatch(line);
      dest.onDrain = () => {
        if (unreported === 0 || closed) return;
        const count = unreported;
        unreported = 0;
        put(render("warn", `${count} log lines dropped`, { dropped: count, total: dropped }), true);
      };
    }
  }
  const emit = (level: LogLevel | "access", message: string, fields?: Fields) => {
    if (put !== noop) put(render(level, message, fields), level !== "access");
  };
  const at = (level: LogLevel) => RANK[level] < threshold || format === "none" ? noop : (message: string, fields?: Fields) => emit(level, message, fields);
  const logger: StdLogger = {
    format,
    level: opts.level ?? "info",
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    access: format === "none" ? noop : queueAccess !== noop ? queueAccess : (fields) => emit("access", "request", fields),
    get droppedLines() {
      return dropped;
    },
    flush() {
      pushBatch();
      if (!closed) destination?.flushSync(EXIT_FLUSH_MS);
    },
    async close(timeoutMs = 5000) {
      if (closed) return;
      pushBatch();
      if (destination && !destination.idle()) {
        const dest = destination;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs);
          const previous = dest.onDrain;
          dest.onDrain = () => {
            previous();
            // the drop notice may have been queued just now: wait for it too
            if (!dest.idle()) return;
            clearTimeout(timer);
            resolve();
          };
        });
      }
      closed = true;
      destination?.end();
      open.delete(logger);
    },
  };
  if (destination) {
    installExitHook();
    open.add(logger);
  }
  return logger;
}

/** Where a logger's lines also go: the OpenTelemetry log export. Level `access` marks access lines. */
export type LogSink = (level: LogLevel | "access", message: string, fields: Fields | undefined) => void;

/**
 * A logger that also hands `sink` every event line that passes `logger`'s level and every access
 * line, whatever the format (also `none`: its format then reads `json`, for callers that skip
 * building fields for a silent logger). Wrap it in redactingLogger so the sink gets redacted lines.
 */
export function withLogSink(logger: Logger, sink: LogSink | undefined): Logger {
  if (!sink) return logger;
  const threshold = logger.level === undefined ? 0 : RANK[logger.level];
  const at = (level: LogLevel) => {
    const write = logger[level];
    return RANK[level] < threshold ? write : (message: string, fields?: Fields) => {
      write(message, fields);
      sink(level, message, fields);
    };
  };
  return {
    format: logger.format === "none" ? "json" : logger.format,
    level: logger.level,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    access: (fields) => {
      logger.access(fields);
      sink("access", "request", fields);
    },
  };
}
