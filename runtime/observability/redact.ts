/**
 * Secret named values kept out of logs: a logger that replaces the text of every secret of the live
 * configuration (`Snapshot.secrets`) with `***` in messages and field values before they are
 * written. Policies hold secrets in clear (they must send them), so anything they or the host say
 * about a failure could quote one; this is the last line before stdout. With no secrets in the live
 * configuration it costs one check per line.
 */
import { redactText } from "../../config/snapshot/build.ts";
import type { Logger, LogLevel } from "./log.ts";

type Fields = Record<string, unknown>;

function redactValue(value: unknown, secrets: ReadonlySet<string>): unknown {
  if (typeof value === "string") return redactText(value, secrets);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, secrets));
  if (value !== null && typeof value === "object") return redactFields(value as Fields, secrets);
  return value;
}

function redactFields(fields: Fields, secrets: ReadonlySet<string>): Fields {
  const out: Fields = {};
  for (const key in fields) out[key] = redactValue(fields[key], secrets);
  return out;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * `logger` with the secrets `secrets()` returns (those of the live configuration) redacted from every
 * line, before any of its outputs (stdout and the OTLP export alike). Levels `logger` skips are
 * skipped here too, without redacting.
 */
export function redactingLogger(logger: Logger, secrets: () => ReadonlySet<string> | undefined): Logger {
  const threshold = RANK[logger.level ?? "debug"];
  const wrap = (level: LogLevel, write: (message: string, fields?: Fields) => void) => {
    if (RANK[level] < threshold) return () => {};
    return (message: string, fields?: Fields) => {
      const live = secrets();
      if (!live?.size) return write(message, fields);
      write(redactText(message, live), fields && redactFields(fields, live));
    };
  };
  return {
    format: logger.format,
    level: logger.level,
    debug: wrap("debug", logger.debug.bind(logger)),
    info: wrap("info", logger.info.bind(logger)),
    warn: wrap("warn", logger.warn.bind(logger)),
    error: wrap("error", logger.error.bind(logger)),
    access(fields) {
      const live = secrets();
      logger.access(live?.size ? redactFields(fields, live) : fields);
    },
  };
}
