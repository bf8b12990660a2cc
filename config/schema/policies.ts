import { z } from "zod";
import { formatRange, parseCidr, parseIp } from "./ip.ts";
import { templateProblem } from "./template.ts";
import { HeaderName } from "./header-name.ts";
import { HTTP_TOKEN_OR_ANY } from "./http-token.ts";
import { CacheLookupParams, CacheLookupValueParams, CacheRemoveValueParams, CacheStoreParams, CacheStoreValueParams } from "./cache.ts";
import { ValidateJwtParams } from "./validate-jwt.ts";
import { ForwardRequestParams, RetryParams } from "./resilience.ts";

/** A header name as HTTP allows it (an RFC 9110 token). */

/** A parameter value: YAML scalars are all handed to policies as strings. */
const Scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String);

/** A value that may go into a header: no line breaks or other control characters. */
const HeaderValue = Scalar.pipe(z.string().regex(/^[^\x00-\x08\x0a-\x1f\x7f]*$/, "must not contain line breaks or control characters"));

/** An HTTP status a policy may answer with, given as a number; handed over as its decimal string. */
const Status = (fallback: number) => z.number().int().min(200).max(599).default(fallback).transform(String);

/** Text with `{...}` placeholders (see config/schema/template.ts), checked here. */
const TemplateText = z.string().superRefine((value, ctx) => {
  const problem = templateProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: `template ${problem}` });
});

/** A parameter value with placeholders; YAML numbers and booleans are taken as text. */
const Template = z.preprocess((v) => (typeof v === "number" || typeof v === "boolean" ? String(v) : v), TemplateText);

/** A positive whole number (calls, counts), handed over as its decimal string. */
const Count = z.number().int().min(1).max(2_147_483_647).transform(String);

/**
 * A bandwidth quota in kilobytes (APIM's `bandwidth`; KiB, 1,024 bytes), at most 2^31 - 1 (2 TiB),
 * handed over as its decimal string.
 */
const Kilobytes = z.number().int().min(1).max(2_147_483_647).transform(String);

/** A period in whole seconds, as APIM gives renewal periods (at most a year), handed over as its decimal string. */
const Seconds = z.number().int().min(1).max(31_536_000).transform(String);

/** A query parameter name: non-empty, no `&`, `=`, `#` or whitespace. */
const QueryName = z.string().regex(/^[^&=#\s\x00-\x1f\x7f]+$/, "expected a query parameter name (no &, =, # or whitespace)");

/** One or several values (a list), joined with newlines for the module. */
const OneOrMany = <T extends z.ZodType<string, unknown>>(item: T) =>
  z.union([item, z.array(item).min(1)]).transform((v) => (Array.isArray(v) ? v.join("\n") : v));

/** An identity attribute value: one line, no tabs (identities reach the module as tab-separated lines). */
const IdentityValue = z.string().min(1).regex(/^[^\t\n\r\x00]*$/, "must not contain tabs, line breaks or NUL");

/** A hex value (thumbprint, serial number), compared case-insensitively, with APIM's optional colons. */
const HexValue = z
  .string()
  .transform((v) => v.replace(/:/g, "").toUpperCase())
  .pipe(z.string().regex(/^[0-9A-F]+$/, "expected hexadecimal digits"));

/**
 * One accepted client identity (APIM's `identity` element): every attribute given must match.
 * Handed to the module as one line of `attribute=value` pairs separated by tabs.
 */
const ClientIdentity = z
  .object({
    thumbprint: HexValue.optional(),
    "serial-number": HexValue.optional(),
    "common-name": IdentityValue.optional(),
    subject: IdentityValue.optional(),
    "dns-name": IdentityValue.optional(),
    "issuer-subject": IdentityValue.optional(),
  })
  .strict()
  .refine((identity) => Object.keys(identity).length > 0, "an identity needs at least one attribute, such as thumbprint or subject")
  .transform((identity) => Object.entries(identity).map(([k, v]) => `${k}=${v}`).join("\t"));

/** An IP address or CIDR block (IPv4 or IPv6). */
const IpOrCidr = z.string().refine(
  (v) => parseCidr(v.trim()) !== undefined,
  "expected an IPv4 or IPv6 address or CIDR block (such as 10.0.0.0/8 or 2001:db8::/32)",
);

/** One IP address. */
const Ip = z.string().refine((v) => parseIp(v.trim()) !== undefined, "expected an IPv4 or IPv6 address");

/** A method name for CORS lists, or "*". */
const MethodName = z.string().regex(HTTP_TOKEN_OR_ANY, "expected an HTTP method or *");

/** Names of response headers and variables that the rate-limit policies may set (APIM's attributes). */
const limitNames = {
  "retry-after-header-name": HeaderName.optional(),
  "retry-after-variable-name": z.string().min(1).optional(),
  "remaining-calls-header-name": HeaderName.optional(),
  "remaining-calls-variable-name": z.string().min(1).optional(),
  "total-calls-header-name": HeaderName.optional(),
};

/** An http(s) base URL without query, fragment or credentials. */
const BaseUrl = z.string().refine((v) => {
  try {
    const url = new URL(v);
    return (url.protocol === "http:" || url.protocol === "https:") && !url.search && !url.hash && !url.username && !url.password;
  } catch {
    return false;
  }
}, "expected an http:// or https:// URL without query, fragment or credentials");

/**
 * The parameters (`with:`) of each built-in policy, with APIM's attribute names. The policy engine
 * gives them to the module as its configuration; a policy missing here is not a built-in.
 */
export const BUILTIN_POLICY_PARAMS = {
  "set-header": z
    .object({
      name: HeaderName,
      value: HeaderValue.optional(),
      "exists-action": z.enum(["override", "skip", "append", "delete"]).default("override"),
    })
    .strict()
    .refine((p) => p["exists-action"] === "delete" || p.value !== undefined, { message: 'needs a value unless exists-action is "delete"' }),
  "return-response": z
    .object({
      "status-code": Status(200),
      "content-type": HeaderValue.optional(),
      body: Scalar.default(""),
    })
    .strict(),
  "check-header": z
    .object({
      name: HeaderName,
      "failed-check-httpcode": Status(400),
      "failed-check-error-message": HeaderValue.default(""),
      "ignore-case": z.boolean().default(false).transform(String),
      values: z.array(HeaderValue).default([]).transform((list) => list.join("\n")),
    })
    .strict(),
  "set-query-parameter": z
    .object({
      name: QueryName,
      value: OneOrMany(Template).optional(),
      "exists-action": z.enum(["override", "skip", "append", "delete"]).default("override"),
    })
    .strict()
    .refine((p) => p["exists-action"] === "delete" || p.value !== undefined, { message: 'needs a value unless exists-action is "delete"' }),
  "rewrite-uri": z
    .object({
      template: z
        .string()
        .regex(/^\/[^#\s\x00-\x1f\x7f]*$/, 'expected a path template starting with "/" (no #, no whitespace)')
        .pipe(TemplateText),
      "copy-unmatched-params": z.boolean().default(true).transform(String),
    })
    .strict(),
  "set-backend-service": z
    .object({ "backend-id": z.string().min(1).optional(), "base-url": BaseUrl.optional() })
    .strict()
    .refine((p) => (p["backend-id"] === undefined) !== (p["base-url"] === undefined), { message: "needs exactly one of backend-id and base-url" }),
  "ip-filter": z
    .object({
      action: z.enum(["allow", "forbid"]),
      address: z.array(IpOrCidr).default([]),
      "address-range": z
        .array(
          z
            .object({ from: Ip, to: Ip })
            .strict()
            .refine((r) => parseIp(r.from.trim())! <= parseIp(r.to.trim())!, { message: "from must not be above to", path: ["to"] }),
        )
        .default([]),
    })
    .strict()
    .refine((p) => p.address.length + p["address-range"].length > 0, { message: "needs at least one address or address-range" })
    .transform((p) => ({
      action: p.action,
      ranges: [
        ...p.address.map((a) => formatRange(parseCidr(a.trim())!)),
        ...p["address-range"].map((r) => formatRange({ from: parseIp(r.from.trim())!, to: parseIp(r.to.trim())! })),
      ].join("\n"),
    })),
  cors: z
    .object({
      "allowed-origins": z.array(z.string().regex(/^(\*|https?:\/\/[^/\s]+|null)$/, 'expected "*", "null" or an origin such as https://app.example.com')).min(
        1,
      ),
      "allowed-methods": z.array(MethodName).default(["GET", "POST"]),
      "allowed-headers": z.array(z.union([HeaderName, z.literal("*")])).default([]),
      "expose-headers": z.array(HeaderName).default([]),
      "allow-credentials": z.boolean().default(false),
      "preflight-result-max-age": z.number().int().min(0).max(86_400).optional(),
      "terminate-unmatched-request": z.boolean().default(true),
    })
    .strict()
    .refine((p) => !(p["allow-credentials"] && p["allowed-origins"].includes("*")), {
      message: 'allow-credentials cannot be used with the "*" origin (browsers refuse it); list the origins',
      path: ["allow-credentials"],
    })
    .transform((p) => ({
      "allowed-origins": p["allowed-origins"].join("\n"),
      "allowed-methods": p["allowed-methods"].join("\n"),
      "allowed-headers": p["allowed-headers"].join("\n"),
      "expose-headers": p["expose-headers"].join("\n"),
      "allow-credentials": String(p["allow-credentials"]),
      "preflight-result-max-age": p["preflight-result-max-age"] === undefined ? undefined : String(p["preflight-result-max-age"]),
      "terminate-unmatched-request": String(p["terminate-unmatched-request"]),
    })),
  "mock-response": z
    .object({
      "status-code": Status(200),
      "content-type": HeaderValue.default("application/json"),
      body: Scalar.default(""),
    })
    .strict(),
  "rate-limit": z.object({ calls: Count, "renewal-period": Seconds, ...limitNames }).strict(),
  "rate-limit-by-key": z
    .object({ calls: Count, "renewal-period": Seconds, "counter-key": Template, "increment-count": Count.prefault(1), ...limitNames })
    .strict(),
  "quota-by-key": z
    .object({
      calls: Count.optional(),
      bandwidth: Kilobytes.optional(),
      "renewal-period": Seconds,
      "counter-key": Template,
      "increment-count": Count.prefault(1),
    })
    .strict()
    .refine((p) => p.calls !== undefined || p.bandwidth !== undefined, { message: "needs calls, bandwidth or both" }),
  quota: z
    .object({ calls: Count.optional(), bandwidth: Kilobytes.optional(), "renewal-period": Seconds })
    .strict()
    .refine((p) => p.calls !== undefined || p.bandwidth !== undefined, { message: "needs calls, bandwidth or both" }),
  "limit-concurrency": z.object({ key: Template, "max-count": Count }).strict(),
  "validate-client-certificate": z
    .object({
      // APIM checks revocation by default; Portico cannot (no CRL or OCSP client), so it must be off and say so.
      "validate-revocation": z.literal(false, { error: "revocation checking (CRL, OCSP) is not supported: set validate-revocation: false" }).default(false)
        .transform(String),
      "validate-trust": z.boolean().default(true).transform(String),
      "validate-not-before": z.boolean().default(true).transform(String),
      "validate-not-after": z.boolean().default(true).transform(String),
      "ignore-error": z.boolean().default(false).transform(String),
      identities: z.array(ClientIdentity).default([]).transform((list) => list.join("\n")),
    })
    .strict(),
  "validate-jwt": ValidateJwtParams,
  "cache-lookup": CacheLookupParams,
  "cache-store": CacheStoreParams,
  "cache-lookup-value": CacheLookupValueParams,
  "cache-store-value": CacheStoreValueParams,
  "cache-remove-value": CacheRemoveValueParams,
  retry: RetryParams,
  "forward-request": ForwardRequestParams,
} as const satisfies Record<string, z.ZodType>;

/** Names of the built-in policies. */
export type BuiltinPolicyName = keyof typeof BUILTIN_POLICY_PARAMS;

/**
 * Built-ins the gateway runs itself rather than as WebAssembly modules, because their work is
 * cryptography and network I/O (validate-jwt: signatures, JWKS fetches) or awaits a store and
 * streams bodies (the cache policies: runtime/cache/), or because they instruct the gateway's own
 * backend call (retry, forward-request: docs/resilience.md).
 */
export const HOST_POLICIES = new Set(
  ["validate-jwt", "cache-lookup", "cache-store", "cache-lookup-value", "cache-store-value", "cache-remove-value", "retry", "forward-request"] as const,
);

/**
 * The sections each host built-in may be used in: validate-jwt checks requests, cache-lookup answers
 * them from the cache, cache-store stores the backend's response; the value cache policies go
 * anywhere, as in APIM; retry goes before the backend call (inbound or backend), forward-request
 * in the backend section, as in APIM.
 */
export const HOST_POLICY_SECTIONS: Readonly<Record<HostPolicyName, readonly string[]>> = {
  "validate-jwt": ["inbound", "backend"],
  "cache-lookup": ["inbound"],
  "cache-store": ["outbound"],
  "cache-lookup-value": ["inbound", "backend", "outbound", "on-error"],
  "cache-store-value": ["inbound", "backend", "outbound", "on-error"],
  "cache-remove-value": ["inbound", "backend", "outbound", "on-error"],
  retry: ["inbound", "backend"],
  "forward-request": ["backend"],
};

/** Names of the built-ins the gateway runs itself. */
export type HostPolicyName = typeof HOST_POLICIES extends Set<infer T> ? T : never;

/** Names of the built-ins shipped as WebAssembly modules (policies-wasm/builtins/). */
export type WasmBuiltinName = Exclude<BuiltinPolicyName, HostPolicyName>;

/** Whether a built-in runs on the host (no WebAssembly module). */
export function isHostPolicy(name: string): name is HostPolicyName {
  return (HOST_POLICIES as ReadonlySet<string>).has(name);
}

/** Parameters of a built-in policy, parsed and defaulted, as the strings a module reads. */
export function builtinPolicyConfig(name: BuiltinPolicyName, params: unknown): Record<string, string> {
  const parsed = BUILTIN_POLICY_PARAMS[name].parse(params ?? {}) as Record<string, string | undefined>;
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) if (value !== undefined) config[key] = value;
  return config;
}
