/**
 * The parameters of the `validate-jwt` built-in (APIM's attributes and elements, as YAML), checked
 * with a problem at each wrong part's path, and resolved into the strings the gateway's host step
 * reads (see runtime/policy/jwt/): lists joined with newlines, signing keys and required claims as
 * JSON. Inline signing keys are parsed here, so a bad key stops the configuration, never a request.
 * Problems never quote a symmetric key. See docs/configuration.md (validate-jwt).
 */
import { z } from "zod";
import { pemJwk, type SigningJwk, signingJwk, symmetricJwk } from "./jwk.ts";
import { templateProblem } from "./template.ts";
import { HeaderName } from "./header-name.ts";

const QueryName = z.string().regex(/^[^&=#\s\x00-\x1f\x7f]+$/, "expected a query parameter name (no &, =, # or whitespace)");
const Template = z.string().min(1).superRefine((value, ctx) => {
  const problem = templateProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: `template ${problem}` });
});
/** One line of text: issuers, audiences, claim names and values reach the gateway as lines. */
const Line = z.string().min(1).regex(/^[^\x00-\x1f\x7f]*$/, "must not contain line breaks or control characters");
const Lines = z.union([Line, z.array(Line).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));

/** An http(s) URL without credentials or fragment (a JWKS or OpenID configuration document). */
const DocumentUrl = z.string().refine((v) => {
  try {
    const url = new URL(v);
    return (url.protocol === "http:" || url.protocol === "https:") && !url.hash && !url.username && !url.password;
  } catch {
    return false;
  }
}, "expected an http:// or https:// URL without credentials or fragment");
const UrlElement = z.object({ url: DocumentUrl }).strict();
const UrlElements = z.union([UrlElement, z.array(UrlElement).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]).map((e) => e.url));

/** Whole seconds within bounds, as text. */
const SecondsIn = (min: number, max: number, fallback: number) => z.number().int().min(min).max(max).default(fallback).transform(String);

/**
 * One inline signing key: a JWK (`kty: RSA | EC | oct`), a PEM public key or certificate (a string,
 * or `{ pem, id }`), or a symmetric key `{ value: BASE64, id }` (APIM's `<key>`). Problems are
 * raised on the entry itself, so they show "a map" rather than the key.
 */
const SigningKey = z.unknown().transform((input, ctx): SigningJwk => {
  const fail = (reason: string) => {
    ctx.addIssue({ code: "custom", message: reason });
    return z.NEVER;
  };
  if (typeof input === "string") {
    const result = pemJwk(input);
    return result.ok ? result.key : fail(result.reason);
  }
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return fail("expected a JWK (kty: ...), a PEM string, { pem, id } or { value, id } (symmetric, base64)");
  }
  const entry = input as Record<string, unknown>;
  const id = entry.id;
  if (id !== undefined && (typeof id !== "string" || id.length === 0)) return fail("id (the key's kid) must be a non-empty string");
  if ("kty" in entry) {
    if (id !== undefined) return fail("a JWK names its key with kid, not id");
    const result = signingJwk(entry);
    return result.ok ? result.key : fail(result.reason);
  }
  const extra = Object.keys(entry).filter((k) => k !== "id" && k !== "pem" && k !== "value");
  if (extra.length) return fail(`unknown key ${JSON.stringify(extra[0])}: expected a JWK (kty: ...), { pem, id } or { value, id }`);
  if (typeof entry.pem === "string" && entry.value === undefined) {
    const result = pemJwk(entry.pem, id as string | undefined);
    return result.ok ? result.key : fail(result.reason);
  }
  if (typeof entry.value === "string" && entry.pem === undefined) {
    const result = symmetricJwk(entry.value, id as string | undefined);
    return result.ok ? result.key : fail(result.reason);
  }
  return fail("needs exactly one of pem (a string) and value (a base64 string)");
});

/** APIM's `claim` element: the claim must be present and, when values are listed, hold all (or any) of them. */
const RequiredClaim = z
  .object({
    name: Line,
    match: z.enum(["all", "any"]).default("all"),
    separator: z.string().min(1).max(8).regex(/^[^\x00-\x1f\x7f]*$/, "must not contain control characters").optional(),
    values: z.array(Line).default([]),
  })
  .strict();

/** The parameters of validate-jwt. */
export const ValidateJwtParams = z
  .object({
    "header-name": HeaderName.optional(),
    "query-parameter-name": QueryName.optional(),
    "token-value": Template.optional(),
    "require-scheme": z.union([z.literal(""), HeaderName]).optional(),
    "failed-validation-httpcode": z.number().int().min(400).max(599).default(401).transform(String),
    "failed-validation-error-message": z.string().regex(/^[^\x00-\x08\x0a-\x1f\x7f]*$/, "must not contain line breaks or control characters").optional(),
    "require-expiration-time": z.boolean().default(true).transform(String),
    // APIM accepts unsigned tokens when this is false; Portico never does (alg: none can never pass).
    "require-signed-tokens": z
      .literal(true, { error: "unsigned tokens are never accepted: leave require-signed-tokens at true" })
      .default(true)
      .transform(String),
    "clock-skew": SecondsIn(0, 86_400, 0),
    "output-token-variable-name": Line.optional(),
    "openid-config": UrlElements.optional(),
    jwks: UrlElements.optional(),
    "issuer-signing-keys": z.array(SigningKey).min(1).optional(),
    audiences: Lines.optional(),
    issuers: Lines.optional(),
    "required-claims": z.array(RequiredClaim).min(1).optional(),
    "jwks-refresh-interval": SecondsIn(1, 86_400, 3_600),
    "jwks-refetch-cooldown": SecondsIn(1, 3_600, 30),
  })
  .strict()
  .superRefine((p, ctx) => {
    const sources = (["header-name", "query-parameter-name", "token-value"] as const).filter((k) => p[k] !== undefined);
    if (sources.length > 1) {
      ctx.addIssue({ code: "custom", message: `takes the token from one place: give only one of ${sources.join(", ")}`, path: [sources[1]!] });
    }
    if (p["require-scheme"] !== undefined && p["header-name"] === undefined && sources.length > 0) {
      ctx.addIssue({ code: "custom", message: "require-scheme applies to a header; the token comes from elsewhere here", path: ["require-scheme"] });
    }
    if (!p["issuer-signing-keys"] && !p["openid-config"] && !p.jwks) {
      ctx.addIssue({ code: "custom", message: "needs signing keys: issuer-signing-keys, openid-config or jwks" });
    }
    const kids = new Set<string>();
    p["issuer-signing-keys"]?.forEach((key, i) => {
      if (key.kid === undefined) return;
      if (kids.has(key.kid)) ctx.addIssue({ code: "custom", message: `a second key with kid ${JSON.stringify(key.kid)}`, path: ["issuer-signing-keys", i] });
      kids.add(key.kid);
    });
  })
  .transform((p) => {
    const fromHeader = p["query-parameter-name"] === undefined && p["token-value"] === undefined;
    const header = fromHeader ? (p["header-name"] ?? "Authorization") : undefined;
    // APIM's require-scheme has no default; Portico's is Bearer on the Authorization header only.
    const scheme = header === undefined ? undefined : (p["require-scheme"] ?? (header.toLowerCase() === "authorization" ? "Bearer" : ""));
    return {
      "header-name": header,
      "query-parameter-name": p["query-parameter-name"],
      "token-value": p["token-value"],
      "require-scheme": scheme,
      "failed-validation-httpcode": p["failed-validation-httpcode"],
      "failed-validation-error-message": p["failed-validation-error-message"],
      "require-expiration-time": p["require-expiration-time"],
      "require-signed-tokens": p["require-signed-tokens"],
      "clock-skew": p["clock-skew"],
      "output-token-variable-name": p["output-token-variable-name"],
      "openid-config": p["openid-config"]?.join("\n"),
      jwks: p.jwks?.join("\n"),
      "issuer-signing-keys": p["issuer-signing-keys"] && JSON.stringify(p["issuer-signing-keys"]),
      audiences: p.audiences?.join("\n"),
      issuers: p.issuers?.join("\n"),
      "required-claims": p["required-claims"] && JSON.stringify(p["required-claims"]),
      "jwks-refresh-interval": p["jwks-refresh-interval"],
      "jwks-refetch-cooldown": p["jwks-refetch-cooldown"],
    };
  });
