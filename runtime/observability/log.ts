/** How logs are written to stdout: JSON lines, human-readable text, or not at all. */
export type LogFormat = "json" | "text" | "none";

type Level = "info" | "warn" | "error";
type Fields = Record<string, unknown>;

/** Structured event and access logs for one process. Disabled levels cost one branch. */
export interface Logger {
  readonly format: LogFormat;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  /** One line per request, written when the response headers are ready. */
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
function jsonLine(record: Fields): string {
  const json = JSON.stringify(record);
  return `${CONTROL.test(json) ? json.replace(CONTROL_ALL, unicodeEscape) : json}\n`;
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

/**
 * A logger writing to `write` (stdout by default) in the chosen format. Either way an event is
 * exactly one line: no field value can start another (see CONTROL).
 */
export function createLogger(format: LogFormat, write: (line: string) => void = (line) => void process.stdout.write(line)): Logger {
  const emit = (level: Level | "access", message: string, fields?: Fields) => {
    if (format === "none") return;
    const time = new Date().toISOString();
    write(format === "json" ? jsonLine({ time, level, msg: message, ...fields }) : textLine(time, level, message, fields));
  };
  return {
    format,
    info: (message, fields) => emit("info", message, fields),
    warn: (message, fields) => emit("warn", message, fields),
    error: (message, fields) => emit("error", message, fields),
    access: (fields) => emit("access", "request", fields),
  };
}
