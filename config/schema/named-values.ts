/**
 * Named values (APIM's "named values"): `namedValues:` at the top of a configuration declares text
 * by name, and `{{name}}` inside any string of a policy's `with:` is replaced by that text when the
 * configuration is validated, before the built-in policies' parameter schemas check the result. A
 * value is written inline (`{ value }`, `{ value, secret: true }`) or read from the environment
 * (`{ env: VAR }`) or a file (`{ file: PATH }`); env and file values are secret unless they say
 * `secret: false`. Secret values are never printed: problems that would show them are redacted
 * here (see `redactProblems`), and the snapshot carries the set of secret values so that whatever
 * prints configuration can redact them (config/snapshot/snapshot.ts `secrets`). See
 * docs/configuration.md#named-values.
 *
 * This file does no I/O: reading the environment and files is the caller's (`NamedValueReader`).
 */
import { z } from "zod";
import { formatPath, type Problem, suggest } from "./problems.ts";

/** APIM's rule for named value names: letters, digits, '.', '-' and '_' (at most 256 characters). */
export const NAMED_VALUE_NAME = /^[A-Za-z0-9._-]{1,256}$/;

/** Longest value, in characters (APIM's limit, applied to every kind so that a value behaves the same wherever it comes from). */
export const MAX_NAMED_VALUE_LENGTH = 4096;

const NamedValueName = z.string().regex(NAMED_VALUE_NAME, "expected a named value name of letters, digits, '.', '-' or '_' (at most 256)");

/** An inline value: YAML numbers and booleans are taken as their text, as every named value is text. */
const InlineValue = z
  .object({
    value: z.union([z.string(), z.number(), z.boolean()], { error: "expected text (a string, number or boolean)" }).transform(String).pipe(
      z.string().min(1, "must not be empty").max(MAX_NAMED_VALUE_LENGTH, `must be at most ${MAX_NAMED_VALUE_LENGTH} characters`),
    ),
    /** Never printed (problems, golden outputs, anything that shows configuration). Default false for inline values. */
    secret: z.boolean().default(false),
  })
  .strict();

/** A value read from an environment variable of the process that resolves the configuration. */
const EnvValue = z
  .object({
    env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name such as API_TOKEN"),
    /** Default true: values kept out of the configuration file are usually kept out of it because they are secrets. */
    secret: z.boolean().default(true),
  })
  .strict();

/** A value read from a file (relative to the configuration's folder); one trailing line break is dropped. */
const FileValue = z
  .object({
    file: z.string().min(1),
    /** Default true, as for env. */
    secret: z.boolean().default(true),
  })
  .strict();

/** One named value as written: inline, from the environment, or from a file (exactly one of the three). */
export const NamedValue = z.union([InlineValue, EnvValue, FileValue]);

const SOURCES = ["value", "env", "file"] as const;

/**
 * Shape problems of the `namedValues:` section, made plain: an entry that gives none or several of
 * value, env and file gets one problem saying so instead of what the union's closest branch said.
 */
export function plainNamedValueProblems(problems: readonly Problem[], raw: unknown): Problem[] {
  if (!isMap(raw)) return [...problems];
  const wrong = new Map<string, readonly string[]>();
  for (const [name, entry] of Object.entries(raw)) {
    const given = isMap(entry) ? SOURCES.filter((key) => Object.hasOwn(entry, key)) : undefined;
    if (given && given.length !== 1) wrong.set(name, given);
  }
  if (!wrong.size) return [...problems];
  const out: Problem[] = [];
  const said = new Set<string>();
  for (const p of problems) {
    const name = p.parts?.[0] === "namedValues" ? String(p.parts[1]) : undefined;
    const given = name === undefined ? undefined : wrong.get(name);
    if (!given) {
      out.push(p);
      continue;
    }
    if (said.has(name!)) continue;
    said.add(name!);
    const parts = ["namedValues", name!];
    out.push({
      path: formatPath(parts),
      parts,
      message: given.length ? `takes exactly one of value, env and file, not ${given.join(" and ")} together` : "needs value, env or file",
    });
  }
  return out;
}

/** The `namedValues:` section: named values by name. */
export const NamedValues = z.record(NamedValueName, NamedValue);

/** One named value as declared (after its shape was checked). */
export type NamedValueConfig = z.output<typeof NamedValue>;

/** A named value with its text resolved. */
export interface ResolvedNamedValue {
  readonly value: string;
  readonly secret: boolean;
  /** The absolute path of the file it was read from (standalone gateways watch it), when it came from one. */
  readonly file?: string;
}

/** The named values of a configuration, resolved, by name. */
export type ResolvedNamedValues = ReadonlyMap<string, ResolvedNamedValue>;

/**
 * Reads an env or file named value; throws an Error whose message says why it cannot (never the value).
 * The caller decides the environment and the folder files are relative to (and, on the control
 * plane, that they stay inside its configuration folder).
 */
export type NamedValueReader = (source: { readonly env: string } | { readonly file: string }) => { readonly value: string; readonly file?: string };

/** Where env and file named values may be read: `local` (with a reader), or nowhere (`inline`: a gateway fed by a control plane). */
export interface NamedValueOptions {
  /** Reads env and file values; without one, env and file values are problems. */
  readonly read?: NamedValueReader;
  /** Why env and file values are refused when there is no reader. */
  readonly refusal?: string;
}

/** The named values of a configuration: those that resolved, the names declared (even when broken), and every problem. */
export interface NamedValueResolution {
  readonly values: Map<string, ResolvedNamedValue>;
  /** Every declared name, resolved or not: a reference to a broken one is not reported again as unknown. */
  readonly declared: ReadonlySet<string>;
  readonly problems: Problem[];
  /** Secret values, including those of entries that did not validate, for redaction. */
  readonly secrets: Set<string>;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** One trailing line break dropped: files written with `echo` or an editor end with one. */
function withoutTrailingNewline(text: string): string {
  return text.endsWith("\r\n") ? text.slice(0, -2) : text.endsWith("\n") ? text.slice(0, -1) : text;
}

/**
 * Resolves the `namedValues:` section of a document (raw: shape problems are the schema's, reported
 * by the caller; entries whose shape is wrong are left out here). Reading problems come at
 * `namedValues.NAME.env` or `.file`, and never contain the value.
 */
export function resolveNamedValues(raw: unknown, options: NamedValueOptions): NamedValueResolution {
  const values = new Map<string, ResolvedNamedValue>();
  const declared = new Set<string>();
  const problems: Problem[] = [];
  const secrets = new Set<string>();
  if (!isMap(raw)) return { values, declared, problems, secrets };
  for (const [name, entry] of Object.entries(raw)) {
    declared.add(name);
    // A secret written inline is redacted even when its entry is otherwise wrong.
    if (isMap(entry) && entry.secret === true && typeof entry.value === "string" && entry.value) secrets.add(entry.value);
    if (!NAMED_VALUE_NAME.test(name)) continue;
    const parsed = NamedValue.safeParse(entry);
    if (!parsed.success) continue;
    const declaredValue = parsed.data;
    if ("value" in declaredValue) {
      values.set(name, { value: declaredValue.value, secret: declaredValue.secret });
      if (declaredValue.secret) secrets.add(declaredValue.value);
      continue;
    }
    const field = "env" in declaredValue ? "env" : "file";
    const at = (message: string) => problems.push({ path: formatPath(["namedValues", name, field]), parts: ["namedValues", name, field], message });
    if (!options.read) {
      at(options.refusal ?? "env and file named values are read when the configuration is built from a file");
      continue;
    }
    let read: { value: string; file?: string };
    try {
      read = options.read("env" in declaredValue ? { env: declaredValue.env } : { file: declaredValue.file });
    } catch (error) {
      at(error instanceof Error ? error.message : String(error));
      continue;
    }
    const value = field === "file" ? withoutTrailingNewline(read.value) : read.value;
    if (declaredValue.secret && value) secrets.add(value);
    if (!value) at("env" in declaredValue ? `the environment variable ${declaredValue.env} is empty` : "the file is empty");
    else if (value.length > MAX_NAMED_VALUE_LENGTH) at(`the value is longer than ${MAX_NAMED_VALUE_LENGTH} characters`);
    else values.set(name, { value, secret: declaredValue.secret, ...(read.file === undefined ? {} : { file: read.file }) });
  }
  return { values, declared, problems, secrets };
}

/**
 * The named value references of a text, in order: `{{NAME}}` where NAME follows the naming rule.
 * Braces are paired from the left as templates pair them (`{{{request.ip}}}` is a literal brace,
 * a placeholder and a literal brace, not a reference), so a `{{` that does not enclose a name stays
 * as written.
 */
function scan(text: string, onReference: (name: string, start: number, end: number) => void): void {
  let i = text.indexOf("{{");
  while (i >= 0) {
    const close = text.indexOf("}}", i + 2);
    if (close < 0) return;
    const name = text.slice(i + 2, close);
    if (NAMED_VALUE_NAME.test(name)) {
      onReference(name, i, close + 2);
      i = text.indexOf("{{", close + 2);
    } else i = text.indexOf("{{", i + 2);
  }
}

/** The names referenced as `{{NAME}}` by every string inside a value (objects and lists walked; keys are not). */
export function namedValueReferences(value: unknown, into: Set<string> = new Set()): Set<string> {
  if (typeof value === "string") scan(value, (name) => into.add(name));
  else if (Array.isArray(value)) { for (const item of value) namedValueReferences(item, into); }
  else if (isMap(value)) { for (const item of Object.values(value)) namedValueReferences(item, into); }
  return into;
}

/** The outcome of replacing the references of a policy's `with:`. */
export interface Substitution {
  /** The parameters with every resolvable reference replaced (same shape). */
  readonly value: unknown;
  /** Unknown names, each at its path. */
  readonly problems: Problem[];
  /** True when a reference names a declared value that did not resolve: the parameters cannot be checked. */
  readonly unresolved: boolean;
  /** Paths (as parts, relative to `with`) of the strings into which a secret value was put. */
  readonly secretPaths: PropertyKey[][];
  /** Paths of strings that were exactly one reference, with its value: used to retry a number or boolean parameter. */
  readonly whole: { readonly parts: PropertyKey[]; readonly value: string }[];
}

/**
 * Replaces `{{NAME}}` in every string inside `params` (a policy's `with:`) by the named value's
 * text. Values are inserted as written and not scanned again. `at` is the path of `with`, for the
 * problems of unknown names (`apis[0].policies.inbound[1].with.value: unknown named value {{foo}}`).
 */
export function substituteNamedValues(params: unknown, resolution: NamedValueResolution, at: readonly PropertyKey[]): Substitution {
  const problems: Problem[] = [];
  const secretPaths: PropertyKey[][] = [];
  const whole: { parts: PropertyKey[]; value: string }[] = [];
  let unresolved = false;
  const known = [...resolution.declared];
  const walk = (value: unknown, parts: PropertyKey[]): unknown => {
    if (typeof value === "string") {
      let out = "";
      let from = 0;
      let secret = false;
      let references = 0;
      scan(value, (name, start, end) => {
        references++;
        const resolved = resolution.values.get(name);
        out += value.slice(from, start);
        from = end;
        if (resolved) {
          out += resolved.value;
          secret ||= resolved.secret;
          return;
        }
        out += value.slice(start, end);
        if (resolution.declared.has(name)) {
          unresolved = true;
          return;
        }
        const hint = suggest(name, known);
        const path = [...at, ...parts];
        problems.push({
          path: formatPath(path),
          parts: path,
          message: `unknown named value {{${name}}} (${hint ? `did you mean {{${hint}}}? ` : ""}known: ${known.length ? known.join(", ") : "none defined"})`,
        });
      });
      if (!references) return value;
      out += value.slice(from);
      if (secret) secretPaths.push(parts);
      if (references === 1 && /^\{\{[A-Za-z0-9._-]+\}\}$/.test(value) && out !== value) whole.push({ parts, value: out });
      return out;
    }
    if (Array.isArray(value)) return value.map((item, i) => walk(item, [...parts, i]));
    if (isMap(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, [...parts, k])]));
    return value;
  };
  const value = walk(params, []);
  return { value, problems, unresolved, secretPaths, whole };
}

/**
 * The text of a whole-reference value as YAML would have typed it, for a parameter that takes a
 * number or a boolean (`calls: "{{limit}}"`): canonical decimal numbers and `true`/`false` only, so
 * the text round-trips; anything else stays text (and the schema says what it expected).
 */
export function typedScalar(text: string): string | number | boolean {
  if (text === "true") return true;
  if (text === "false") return false;
  if (/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(text) && String(Number(text)) === text) return Number(text);
  return text;
}

/** `value` with the string at `parts` replaced. */
export function replaceAt(value: unknown, parts: readonly PropertyKey[], replacement: unknown): unknown {
  if (!parts.length) return replacement;
  const [head, ...rest] = parts;
  if (Array.isArray(value)) return value.map((item, i) => (i === head ? replaceAt(item, rest, replacement) : item));
  if (isMap(value)) return { ...value, [head as string]: replaceAt(value[head as string], rest, replacement) };
  return value;
}

/** The mark a secret is replaced with wherever it would be printed. */
export const REDACTED = "***";

/** `text` with every occurrence of each secret replaced by `***` (longest first, so a secret inside another goes with it). */
export function redactText(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const secret of [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length)) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/**
 * Problems safe to print: every secret value replaced by `***`; the value seen (`(got …)`) left
 * out of problems about a named value's own `value` (it may be a secret, shortened past
 * recognition); and at parameters a secret was put into, the placeholder a template problem would
 * quote (part of the secret) left out too.
 */
export function redactProblems(problems: readonly Problem[], secrets: ReadonlySet<string>, secretPaths: readonly string[] = []): Problem[] {
  const carriers = new Set(secretPaths);
  return problems.map((p) => {
    let message = p.message;
    if (p.parts && p.parts[0] === "namedValues" && p.parts[2] === "value") message = message.replace(/ \(got [\s\S]*\)$/, "");
    if (carriers.has(p.path)) {
      message = message.replace(/unknown placeholder \{[^}]*\}/, "unknown placeholder (not shown: the text holds a secret named value)");
    }
    message = redactText(message, secrets);
    return message === p.message ? p : { ...p, message };
  });
}
