/**
 * Who may call: APIM's products and subscriptions (docs/consumers.md). A product groups APIs and
 * carries its own policies; a subscription holds a pair of keys and a scope (every API, one product
 * or one API; products are defined in config.ts, beside the other scopes). The gateway finds a request's subscription by its key, and from it the product
 * whose policies run.
 */
import { z } from "zod";
import { HeaderName } from "./header-name.ts";

/** A name as elsewhere in a configuration: letters, digits, '.', '_' or '-'. */
const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "expected a name of letters, digits, '.', '_' or '-'");

/** Shortest subscription key a configuration may set: shorter keys can be guessed. */
export const MIN_KEY_LENGTH = 16;

/** A key as clients send it: visible ASCII without spaces (it travels in a header or a query parameter). */
const KeyText = z
  .string()
  .min(MIN_KEY_LENGTH, `a subscription key needs at least ${MIN_KEY_LENGTH} characters`)
  .max(256, "a subscription key has at most 256 characters")
  .regex(/^[\x21-\x7e]+$/, "a subscription key is visible ASCII without spaces");

/**
 * Where a subscription key comes from: the key itself (standalone files), an environment variable,
 * a file (relative to the configuration's folder), or a keyed hash as a control plane puts it in a
 * view (`hmac-sha256:SALT:DIGEST`, both hex; DIGEST = HMAC-SHA256 of the key with SALT as the HMAC key).
 */
export const SubscriptionKey = z.union([
  KeyText,
  z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name") }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
  z.object({
    hash: z.string().regex(/^hmac-sha256:[0-9a-f]{32,128}:[0-9a-f]{64}$/, "expected hmac-sha256:SALT:DIGEST (hex)"),
  }).strict(),
]);

/** An RFC 3339 date and time with a zone, as a number of ms since the epoch. */
const Timestamp = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i, "expected an RFC 3339 date and time, such as 2027-01-31T00:00:00Z")
  .transform((text, ctx) => {
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: "custom", message: "expected an RFC 3339 date and time, such as 2027-01-31T00:00:00Z" });
      return z.NEVER;
    }
    return ms;
  });

/** What a subscription gives access to: every API, the APIs of one product, or one API. */
export const SubscriptionScope = z
  .string()
  .regex(/^(all-apis|product:[A-Za-z0-9][A-Za-z0-9._-]*|api:[A-Za-z0-9][A-Za-z0-9._-]*)$/, 'expected "all-apis", "product:NAME" or "api:NAME"');

/** A subscription (APIM's): a name, a scope, a state, an optional expiry and two keys. */
export const Subscription = z
  .object({
    name: Name,
    scope: SubscriptionScope,
    state: z.enum(["active", "suspended", "cancelled"]).default("active"),
    expires: Timestamp.optional(),
    primaryKey: SubscriptionKey.optional(),
    secondaryKey: SubscriptionKey.optional(),
  })
  .strict();

/** Where an API reads subscription keys from (APIM's defaults). */
export const SubscriptionKeyLocation = z
  .object({
    header: HeaderName.default("Ocp-Apim-Subscription-Key"),
    query: z.string().regex(/^[^&=#\s\x00-\x1f\x7f]+$/, "expected a query parameter name (no &, =, # or whitespace)").default("subscription-key"),
  })
  .strict();

/** A subscription as configured. */
export type SubscriptionConfig = z.output<typeof Subscription>;
/** A subscription key as configured. */
export type SubscriptionKeyConfig = z.output<typeof SubscriptionKey>;
