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

function textLine(time: string, level: string, message: string, fields: Fields | undefined): string {
  let line = `${time} ${level.toUpperCase().padEnd(5)} ${message}`;
  if (fields) for (const key in fields) if (fields[key] !== undefined) line += ` ${key}=${typeof fields[key] === "string" ? fields[key] : JSON.stringify(fields[key])}`;
  return `${line}\n`;
}

/** A logger writing to `write` (stdout by default) in the chosen format. */
export function createLogger(format: LogFormat, write: (line: string) => void = (line) => void process.stdout.write(line)): Logger {
  const emit = (level: Level | "access", message: string, fields?: Fields) => {
    if (format === "none") return;
    const time = new Date().toISOString();
    write(format === "json" ? `${JSON.stringify({ time, level, msg: message, ...fields })}\n` : textLine(time, level, message, fields));
  };
  return {
    format,
    info: (message, fields) => emit("info", message, fields),
    warn: (message, fields) => emit("warn", message, fields),
    error: (message, fields) => emit("error", message, fields),
    access: (fields) => emit("access", "request", fields),
  };
}
