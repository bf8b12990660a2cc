import { z } from "zod";

/** A header name as HTTP allows it (an RFC 9110 token). */
const HeaderName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "expected a header name");

/** A parameter value: YAML scalars are all handed to policies as strings. */
const Scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String);

/** A value that may go into a header: no line breaks or other control characters. */
const HeaderValue = Scalar.pipe(z.string().regex(/^[^\x00-\x08\x0a-\x1f\x7f]*$/, "must not contain line breaks or control characters"));

/** An HTTP status a policy may answer with, given as a number; handed over as its decimal string. */
const Status = (fallback: number) => z.number().int().min(200).max(599).default(fallback).transform(String);

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
} as const satisfies Record<string, z.ZodType>;

/** Names of the built-in policies. */
export type BuiltinPolicyName = keyof typeof BUILTIN_POLICY_PARAMS;

/** Parameters of a built-in policy, parsed and defaulted, as the strings a module reads. */
export function builtinPolicyConfig(name: BuiltinPolicyName, params: unknown): Record<string, string> {
  const parsed = BUILTIN_POLICY_PARAMS[name].parse(params ?? {}) as Record<string, string | undefined>;
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) if (value !== undefined) config[key] = value;
  return config;
}
