/**
 * A validated token's claims as later policies see them (`exchange.claims`, `{jwt.claim.NAME}`), and
 * APIM's `required-claims` check. Text form: strings as they are, numbers and booleans as text,
 * arrays joined with "," (their items in the same form), objects as JSON; null is left out.
 */

/** A claim value as text, or undefined for null and undefined. */
export function claimText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return value.map((item) => claimText(item) ?? "").join(",");
  return JSON.stringify(value);
}

/** Every claim of a payload as text. */
export function claimsMap(payload: Readonly<Record<string, unknown>>): ReadonlyMap<string, string> {
  const claims = new Map<string, string>();
  for (const name in payload) {
    const text = claimText(payload[name]);
    if (text !== undefined) claims.set(name, text);
  }
  return claims;
}

/** One `required-claims` entry, as the configuration resolves it. */
export interface RequiredClaim {
  readonly name: string;
  /** `all`: every listed value must be among the claim's; `any`: at least one. */
  readonly match: "all" | "any";
  /** Splits a string claim into values (APIM: `separator=","` for "a,b,c"). */
  readonly separator?: string;
  /** Values to look for; none: the claim only has to be present. */
  readonly values: readonly string[];
}

/** The values a claim holds: an array's items, a string split on the separator, a scalar as text. */
function valuesOf(value: unknown, separator: string | undefined): string[] {
  if (Array.isArray(value)) return value.flatMap((item) => valuesOf(item, separator));
  if (typeof value === "string") return separator ? value.split(separator).map((v) => v.trim()) : [value];
  const text = claimText(value);
  return text === undefined ? [] : [text];
}

/** The first required claim a payload does not satisfy, or undefined when it satisfies them all. */
export function unmetClaim(payload: Readonly<Record<string, unknown>>, required: readonly RequiredClaim[]): RequiredClaim | undefined {
  for (const claim of required) {
    if (!Object.hasOwn(payload, claim.name)) return claim;
    const value = payload[claim.name];
    if (value === null || value === undefined) return claim;
    if (claim.values.length === 0) continue;
    const held = new Set(valuesOf(value, claim.separator));
    const ok = claim.match === "all" ? claim.values.every((v) => held.has(v)) : claim.values.some((v) => held.has(v));
    if (!ok) return claim;
  }
  return undefined;
}
