/**
 * The parameters of the response cache built-ins (`cache-lookup`, `cache-store`) and of the value
 * cache built-ins (`cache-lookup-value`, `cache-store-value`, `cache-remove-value`), with APIM's
 * attribute names, resolved into the strings the gateway's host steps read (runtime/cache/): lists
 * joined with newlines, booleans as `true`/`false`. See docs/caching.md.
 */
import { z } from "zod";
import { templateProblem } from "./template.ts";
import { HeaderName } from "./header-name.ts";

const QueryName = z.string().regex(/^[^&=#\s\x00-\x1f\x7f]+$/, "expected a query parameter name (no &, =, # or whitespace)");
const Template = z.preprocess(
  (v) => (typeof v === "number" || typeof v === "boolean" ? String(v) : v),
  z.string().min(1).superRefine((value, ctx) => {
    const problem = templateProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: `template ${problem}` });
  }),
);
/** One or several names, joined with newlines (header names lower-cased, duplicates dropped). */
const Names = <T extends z.ZodType<string, unknown>>(item: T, lower: boolean) =>
  z.union([item, z.array(item).min(1)]).transform((v) => {
    const list = (Array.isArray(v) ? v : [v]).map((n) => (lower ? n.toLowerCase() : n));
    return [...new Set(list)].join("\n");
  });

/** Where entries live (APIM's `caching-type`): this process, the external store, or the external one when configured. */
export const CachingType = z.enum(["internal", "external", "prefer-external"]).default("prefer-external");

/** Cache durations, in whole seconds from 1 s to a year. */
const Duration = z.number().int().min(1).max(31_536_000).transform(String);

/** A variable name (`context.variable.NAME`): one line of visible text. */
const VariableName = z.string().min(1).regex(/^[^\s\x00-\x1f\x7f]+$/, "expected a variable name (no whitespace or control characters)");

/** `cache-lookup`: looks the request up in the response cache (inbound); APIM's attributes and elements. */
export const CacheLookupParams = z
  .object({
    // Required, as in APIM: whether entries are per subscription, and per product.
    "vary-by-developer": z.boolean({ error: "expected true or false" }).transform(String),
    "vary-by-developer-groups": z.boolean({ error: "expected true or false" }).transform(String),
    "caching-type": CachingType,
    "downstream-caching-type": z.enum(["none", "private", "public"]).default("none"),
    "must-revalidate": z.boolean().default(true).transform(String),
    "allow-private-response-caching": z.boolean().default(false).transform(String),
    "vary-by-header": Names(HeaderName, true).optional(),
    "vary-by-query-parameter": Names(QueryName, false).optional(),
  })
  .strict();

/** `cache-store`: stores the backend's response for `duration` seconds (outbound), under the key `cache-lookup` made. */
export const CacheStoreParams = z.object({ duration: Duration }).strict();

/** `cache-lookup-value`: reads a value into a variable, or `default-value` when absent. */
export const CacheLookupValueParams = z
  .object({
    key: Template,
    "variable-name": VariableName,
    "default-value": z.union([z.string(), z.number(), z.boolean()]).transform(String).optional(),
    "caching-type": CachingType,
  })
  .strict();

/** `cache-store-value`: stores a value (a template) under a key for `duration` seconds. */
export const CacheStoreValueParams = z
  .object({ key: Template, value: z.union([z.literal(""), Template]), duration: Duration, "caching-type": CachingType })
  .strict();

/** `cache-remove-value`: removes a value by key. */
export const CacheRemoveValueParams = z.object({ key: Template, "caching-type": CachingType }).strict();
