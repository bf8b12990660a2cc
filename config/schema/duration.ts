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
