import { z } from "zod";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;

/**
 * Parses a human duration ("500ms", "10s", "2m", "1h", "30d") into milliseconds.
 * A bare number counts as seconds, the unit APIM uses for timeouts. Returns
 * undefined for anything else so callers can report the value they saw.
 */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value * 1_000 : undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNIT_MS[match[2] ?? "s"]!;
}

/** A zod schema for durations in configuration files; the parsed value is milliseconds. */
export const Duration = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: 'expected a duration such as "500ms", "30s" or "2m"' });
      return z.NEVER;
    }
    return ms;
  });

/** An ISO 8601 duration of days and time, as APIM writes them: `PT10S`, `PT1M`, `PT0.5S`, `P1DT2H`. */
const ISO_DURATION = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * Parses an ISO 8601 duration (days, hours, minutes, seconds; no years, months or weeks, whose
 * length varies) into milliseconds; undefined for anything else, `P` and `PT` alone included.
 */
export function parseIsoDuration(value: string): number | undefined {
  const text = value.trim().toUpperCase();
  const match = ISO_DURATION.exec(text);
  if (!match || text === "P" || text.endsWith("T")) return undefined;
  const [, d, h, m, s] = match;
  return Number(d ?? 0) * UNIT_MS.d! + Number(h ?? 0) * UNIT_MS.h! + Number(m ?? 0) * UNIT_MS.m! + Number(s ?? 0) * UNIT_MS.s!;
}

/**
 * A duration written either as elsewhere in Portico ("10s", "500ms", a bare number of seconds) or
 * as APIM writes it in backend and retry settings (ISO 8601: "PT10S", "PT1M", "PT0.5S"); milliseconds.
 */
export const ApimDuration = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const ms = typeof value === "string" && /^\s*P/i.test(value) ? parseIsoDuration(value) : parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: 'expected a duration such as "500ms", "30s", "2m" or, as APIM writes it, "PT30S"' });
      return z.NEVER;
    }
    return ms;
  });
