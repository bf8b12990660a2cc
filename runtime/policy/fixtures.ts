/**
 * The fixtures file of `portico policy test` (`fixtures.yaml` in a policy's folder): request
 * fixtures and what a policy must do with each. The format is documented in
 * docs/policy-authoring.md; this zod schema is the truth. Every problem is reported with its path
 * and its `file:line:column`, like a configuration's.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { locateProblems, parseConfigDocument } from "../../config/load.ts";
import { PolicyModule } from "../../config/schema/config.ts";
import { HeaderName } from "../../config/schema/header-name.ts";
import { keysAt } from "../../config/schema/introspect.ts";
import { describeError, type Problem, problemsFromZod } from "../../config/schema/problems.ts";

const Text = z.string();
/** A header map: a name and a value (several values: a list, sent as repeated headers). */
const Headers = z.record(HeaderName, z.union([Text, z.array(Text)]));
const StringMap = z.record(z.string(), Text);
/** Parameters as in a configuration's `with:`: strings, numbers and booleans (others become JSON). */
const Params = z.record(z.string(), z.unknown());
const Status = z.number().int().min(100).max(599);

/** The request a case starts from. */
const FixtureRequest = z
  .object({
    method: z.string().regex(/^[A-Z]+$/, "expected an upper-case method such as GET").default("GET"),
    /** The routed path, as a policy sees it with `portico_request_path`. */
    path: z.string().startsWith("/", 'expected a path starting with "/"').default("/"),
    /** The query string as on the wire, without "?". */
    query: z.string().default(""),
    headers: Headers.default({}),
    "client-ip": z.string().default("127.0.0.1"),
    /** Route parameters of the matched operation. */
    params: StringMap.default({}),
    api: z.string().optional(),
    operation: z.string().optional(),
    /** Per-request variables set by earlier policies of the chain. */
    variables: StringMap.default({}),
    /** Backends of the configuration a policy may switch to (`portico_set_backend`). */
    backends: z.array(z.string()).default([]),
    /** The subscription of the request's key (`{subscription.id}`, `portico_context`); none: an anonymous call. */
    subscription: z.object({ id: z.string().min(1), name: z.string().min(1) }).strict().optional(),
    /** The product of that subscription (`{product.name}`). */
    product: z.string().min(1).optional(),
    /** Claims of a token validate-jwt accepted, as text (`{jwt.claim.NAME}`). */
    claims: StringMap.optional(),
  })
  .strict();

/** The backend's response, for `on_response`. */
const FixtureResponse = z.object({ status: Status.default(200), headers: Headers.default({}) }).strict();

/** Headers a policy must have set (name: exact value) and removed. */
const HeaderExpectation = z
  .object({ headers: StringMap.optional(), removed: z.array(z.string()).optional() })
  .strict();

const Expectation = z
  .object({
    /** The policy lets the request (or response) go on: no reply, no failure. The default outcome. */
    continue: z.literal(true).optional(),
    /** The policy answers the client itself. */
    reply: z
      .object({ status: Status.optional(), headers: StringMap.optional(), body: z.string().optional() })
      .strict()
      .optional(),
    /** The policy fails (trap, budget, a refused host call): a substring of the reason. */
    error: z.string().optional(),
    request: HeaderExpectation.extend({ path: z.string().optional(), query: z.string().optional() }).strict().optional(),
    response: HeaderExpectation.optional(),
    variables: StringMap.optional(),
    backend: z.string().optional(),
    "backend-url": z.string().optional(),
    /** Every line the policy logs at info, warn or error, in order (debug lines are dropped, as in a gateway). */
    logs: z.array(z.object({ level: z.enum(["info", "warn", "error"]), message: z.string() }).strict()).optional(),
  })
  .strict()
  .refine((e) => [e.continue, e.reply, e.error].filter((x) => x !== undefined).length <= 1, "give at most one of continue, reply and error");

const Case = z
  .object({
    name: z.string().min(1),
    hook: z.enum(["on_request", "on_response"]).default("on_request"),
    /** Parameters for this case, over the file's `with`. */
    with: Params.optional(),
    request: FixtureRequest.default(FixtureRequest.parse({})),
    response: FixtureResponse.optional(),
    expect: Expectation.default({}),
  })
  .strict();

/** The whole fixtures file. */
const FixturesFile = z
  .object({
    /** The name the policy runs under (namespaces counters, cache and log lines); default: the folder's name. */
    policy: z.string().min(1).optional(),
    /** Parameters every case starts from. */
    with: Params.default({}),
    budget: PolicyModule.shape.budget,
    cases: z.array(Case).min(1, "expected at least one case"),
  })
  .strict();

/** A validated fixtures file. */
export type Fixtures = z.output<typeof FixturesFile>;
/** One case of a fixtures file. */
export type FixtureCase = Fixtures["cases"][number];

/** Reads and validates a fixtures file: the fixtures, or every problem with its path and place. */
export function readFixtures(file: string): { ok: true; fixtures: Fixtures } | { ok: false; problems: Problem[] } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      ok: false,
      problems: [{ path: "", message: `cannot read the fixtures: ${code === "ENOENT" ? "file not found" : describeError(error)}`, location: file }],
    };
  }
  const parsed = parseConfigDocument(text, file, "a fixtures file must be a map with keys such as with and cases");
  if (!parsed.ok) return parsed;
  const result = FixturesFile.safeParse(parsed.doc.value);
  if (result.success) return { ok: true, fixtures: result.data };
  return { ok: false, problems: locateProblems(problemsFromZod(result.error.issues, parsed.doc.value, (path) => keysAt(FixturesFile, path)), parsed.doc) };
}
