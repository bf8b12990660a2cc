import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { isMap, isScalar, LineCounter, parseDocument } from "yaml";
import type { Config } from "./schema/config.ts";
import type { Problem } from "./schema/problems.ts";
import type { NamedValueReader, ResolvedNamedValues } from "./schema/named-values.ts";
import { validateConfig, type ValidateOptions } from "./schema/validate.ts";
import { describeError } from "./schema/problems.ts";

/** A configuration that validated, with the identity of the exact bytes it came from. */
export interface LoadedConfig {
  readonly config: Config;
  /** sha256 of the source bytes, hex: the configuration's content hash. */
  readonly hash: string;
  readonly source: string;
  /** Its named values, resolved (secret ones are redacted wherever configuration is printed). */
  readonly namedValues?: ResolvedNamedValues;
}

/** The outcome of loading configuration text: the config, or every problem with its place in the file. */
export type LoadResult = ({ ok: true } & LoadedConfig) | { ok: false; problems: Problem[]; hash: string };

/** Hex sha256 of configuration bytes. */
export function contentHash(text: string | Uint8Array): string {
  return createHash("sha256").update(text).digest("hex");
}

/** A parsed YAML or JSON document, and a way to find where a path into it starts in the source. */
export interface ParsedDocument {
  readonly value: Record<string, unknown>;
  /** `source:line:column` of the node at `parts`, or of its nearest ancestor in the source. */
  locate(parts: readonly PropertyKey[]): string | undefined;
}

/**
 * Parses YAML or JSON text (JSON is YAML 1.2) into a map, or the problems that stop it (syntax,
 * duplicate keys, alias bombs, a document that is not a map: `notAMap` says so), each with its
 * `source:line:column`.
 */
export function parseConfigDocument(
  text: string,
  source: string,
  notAMap = "a configuration must be a map with keys such as apis and backends",
): { ok: true; doc: ParsedDocument } | { ok: false; problems: Problem[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number) => {
    const pos = lines.linePos(offset);
    return `${source}:${pos.line}:${pos.col}`;
  };
  if (doc.errors.length) {
    return { ok: false, problems: doc.errors.map((e) => ({ path: "", message: e.message.split("\n")[0]!, location: at(e.pos[0]) })) };
  }
  let input: unknown;
  try {
    input = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // e.g. too many aliases (a "billion laughs" document): a problem like any other, never a throw.
    return { ok: false, problems: [{ path: "", message: describeError(error).split("\n")[0]!, location: at(0) }] };
  }
  if (input !== null && input !== undefined && (typeof input !== "object" || Array.isArray(input))) {
    return { ok: false, problems: [{ path: "", message: notAMap, location: at(doc.contents?.range[0] ?? 0) }] };
  }
  const locate = (parts: readonly PropertyKey[]) => {
    const offset = nearestOffset(doc, parts);
    return offset === undefined ? undefined : at(offset);
  };
  return { ok: true, doc: { value: (input ?? {}) as Record<string, unknown>, locate } };
}

/** Gives each problem the place in the source where its path starts, when it can be found. */
export function locateProblems(problems: readonly Problem[], doc: ParsedDocument): Problem[] {
  return problems.map((p) => {
    const location = p.parts ? doc.locate(p.parts) : undefined;
    return location === undefined ? p : { ...p, location };
  });
}

/**
 * Parses YAML or JSON text and validates it. Every problem carries the `source:line:column` where
 * it was found, so an operator can jump straight to it. `options` say where policy modules may come from.
 */
export function loadConfigText(text: string, source: string, options?: ValidateOptions): LoadResult {
  const hash = contentHash(text);
  const parsed = parseConfigDocument(text, source);
  if (!parsed.ok) return { ok: false, hash, problems: parsed.problems };
  const result = validateConfig(parsed.doc.value, options);
  if (result.ok) return { ok: true, config: result.config, hash, source, namedValues: result.namedValues };
  return { ok: false, hash, problems: locateProblems(result.problems, parsed.doc) };
}

/**
 * Validates configuration sent as JSON (a control plane's view, a backup): `JSON.parse` instead of
 * the YAML parser, several times faster on large configurations. Problems carry their path; the
 * text is generated, so there is no line worth pointing at.
 */
export function loadConfigJson(text: string, source: string, options?: ValidateOptions): LoadResult {
  const hash = contentHash(text);
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (error) {
    return { ok: false, hash, problems: [{ path: "", message: `not valid JSON: ${describeError(error)}`, location: source }] };
  }
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    return { ok: false, hash, problems: [{ path: "", message: "a configuration must be a map with keys such as apis and backends", location: source }] };
  }
  const result = validateConfig(input, options);
  return result.ok
    ? { ok: true, config: result.config, hash, source, namedValues: result.namedValues }
    : { ok: false, hash, problems: result.problems.map((p) => ({ ...p, location: source })) };
}

function nearestOffset(doc: ReturnType<typeof parseDocument>, parts: readonly PropertyKey[]): number | undefined {
  for (let n = parts.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(parts.slice(0, n) as unknown[], true);
    // A map entry is found at its key: its value may start on a later line, or be empty.
    const parent = n === 0 ? undefined : n === 1 ? doc.contents : doc.getIn(parts.slice(0, n - 1) as unknown[], true);
    if (isMap(parent)) {
      const pair = parent.items.find((item) => (isScalar(item.key) ? item.key.value : item.key) === parts[n - 1]);
      const keyRange = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
      if (keyRange) return keyRange[0];
    }
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (range) return range[0];
  }
  return undefined;
}

/**
 * Reads `{ env }` named values from this process's environment and `{ file }` ones relative to
 * `baseDir` (a standalone configuration's folder). Errors name the variable or the file, never a value.
 */
export function localNamedValueReader(baseDir: string, env: Readonly<Record<string, string | undefined>> = process.env): NamedValueReader {
  return (source) => {
    if ("env" in source) {
      const value = env[source.env];
      if (value === undefined) throw new Error(`the environment variable ${source.env} is not set`);
      return { value };
    }
    const file = resolve(baseDir, source.file);
    try {
      return { value: readFileSync(file, "utf8"), file };
    } catch (error) {
      throw new Error(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`);
    }
  };
}
