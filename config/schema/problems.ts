import type { z } from "zod";

/** One thing wrong with a configuration or settings input: where it is and what was wrong, with the value seen. */
export interface Problem {
  /** Path into the document, e.g. `apis[2].backend`; empty for the whole document. */
  readonly path: string;
  readonly message: string;
  /** The path as keys and indexes, for finding the place in the source file. */
  readonly parts?: readonly PropertyKey[];
  /** `file:line:column` when the input came from a file and the place is known. */
  readonly location?: string;
}

/** Renders a problem as one line: `file:line:col: path: message`. */
export function formatProblem(problem: Problem): string {
  const where = problem.location ? `${problem.location}: ` : "";
  return problem.path ? `${where}${problem.path}: ${problem.message}` : `${where}${problem.message}`;
}

/**
 * What a caught value says, for a problem or a log line: an Error's message, anything else thrown
 * as text. One helper instead of `error instanceof Error ? error.message : String(error)` at every
 * catch; where a stack or a cause is wanted, the caller adds it itself. Lives here, in a leaf that
 * imports nothing at run time, so both config/ and runtime/ may use it.
 */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Joins path segments the way people write them: `apis[2].backend`, `backends.orders.urls[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/** Shows a value the way it appeared in the input, shortened so one problem stays one line. */
export function showValue(value: unknown): string {
  let text: string;
  if (value === undefined) return "nothing";
  if (typeof value === "string") text = JSON.stringify(redactUserinfo(value));
  else if (typeof value === "object" && value !== null) text = Array.isArray(value) ? "a list" : "a map";
  else text = String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Hides the credentials of a URL such as `https://user:secret@host` so a problem never echoes them. */
function redactUserinfo(text: string): string {
  return text.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#@]*@/, "$1***@");
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node: unknown = root;
  for (const part of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  return node;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The closest of `known` to `word`, when it is close enough to be a likely typo. */
export function suggest(word: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of known) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

type Issue = z.core.$ZodIssue;

function allowedKeys(schemaKeys: ((path: readonly PropertyKey[]) => string[] | undefined) | undefined, path: readonly PropertyKey[]) {
  return schemaKeys?.(path) ?? [];
}

/** The issues of the union branch that got furthest, so a union reports the mistake rather than "invalid input". */
function bestBranch(issue: Extract<Issue, { code: "invalid_union" }>): Issue[] | undefined {
  let best: Issue[] | undefined;
  let bestDepth = -1;
  for (const branch of issue.errors) {
    if (branch.length === 0) continue;
    const depth = Math.max(...branch.map((i) => (i.code === "invalid_type" && i.path.length === 0 ? -1 : i.path.length)));
    if (depth > bestDepth) [best, bestDepth] = [branch, depth];
  }
  return bestDepth >= 0 ? best : undefined;
}

/** Fields whose values are secrets (subscription keys): a problem there never repeats the value. */
const SECRET_FIELDS: ReadonlySet<string> = new Set(["primaryKey", "secondaryKey"]);

/**
 * Turns zod issues into problems that name the path and the value seen, e.g.
 * `apis[0].path: expected a path starting with "/" (got "orders")`.
 * `keysAt` lists the keys allowed at a path, to suggest the intended key for an unknown one.
 */
export function problemsFromZod(
  issues: readonly Issue[],
  input: unknown,
  keysAt?: (path: readonly PropertyKey[]) => string[] | undefined,
  prefix: readonly PropertyKey[] = [],
): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === "invalid_union") {
      const branch = bestBranch(issue);
      if (branch) {
        problems.push(...problemsFromZod(branch, input, keysAt, path));
        continue;
      }
    }
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const hint = suggest(key, allowedKeys(keysAt, path));
        problems.push({ path: formatPath([...path, key]), parts: [...path, key], message: `unknown key${hint ? ` (did you mean "${hint}"?)` : ""}` });
      }
      continue;
    }
    if (issue.code === "invalid_key") {
      // A record key that breaks its rule: name the key, not the value under it.
      const reason = issue.issues[0]?.message ?? issue.message;
      problems.push({ path: formatPath(path), parts: path, message: `invalid key: ${reason} (got ${showValue(path[path.length - 1])})` });
      continue;
    }
    const value = valueAt(input, path);
    let message = issue.message.replace(/^Invalid input: /, "");
    if (issue.code === "invalid_type" && value === undefined) message = `required (${message.replace(/, received undefined$/, "")})`;
    else if (path.some((part) => SECRET_FIELDS.has(part as string))) message += " (its value is not shown)";
    else message += ` (got ${showValue(value)})`;
    problems.push({ path: formatPath(path), parts: path, message });
  }
  return problems;
}
