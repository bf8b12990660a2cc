import { createHash } from "node:crypto";
import { isMap, isScalar, LineCounter, parseDocument } from "yaml";
import type { Config } from "./schema/config.ts";
import type { Problem } from "./schema/problems.ts";
import { validateConfig } from "./schema/validate.ts";

/** A configuration that validated, with the identity of the exact bytes it came from. */
export interface LoadedConfig {
  readonly config: Config;
  /** sha256 of the source bytes, hex: the configuration's content hash. */
  readonly hash: string;
  readonly source: string;
}

/** The outcome of loading configuration text: the config, or every problem with its place in the file. */
export type LoadResult = ({ ok: true } & LoadedConfig) | { ok: false; problems: Problem[]; hash: string };

/** Hex sha256 of configuration bytes. */
export function contentHash(text: string | Uint8Array): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * Parses YAML or JSON text (JSON is YAML 1.2) and validates it. Every problem carries the
 * `source:line:column` where it was found, so an operator can jump straight to it.
 */
export function loadConfigText(text: string, source: string): LoadResult {
  const hash = contentHash(text);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number) => {
    const pos = lines.linePos(offset);
    return `${source}:${pos.line}:${pos.col}`;
  };
  if (doc.errors.length) {
    return { ok: false, hash, problems: doc.errors.map((e) => ({ path: "", message: e.message.split("\n")[0]!, location: at(e.pos[0]) })) };
  }
  let input: unknown;
  try {
    input = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // e.g. too many aliases (a "billion laughs" document): a problem like any other, never a throw.
    return { ok: false, hash, problems: [{ path: "", message: (error as Error).message.split("\n")[0]!, location: at(0) }] };
  }
  if (input !== null && input !== undefined && (typeof input !== "object" || Array.isArray(input))) {
    return { ok: false, hash, problems: [{ path: "", message: "a configuration must be a map with keys such as apis and backends", location: at(doc.contents?.range[0] ?? 0) }] };
  }
  const result = validateConfig(input);
  if (result.ok) return { ok: true, config: result.config, hash, source };
  const problems = result.problems.map((p) => {
    const offset = p.parts ? nearestOffset(doc, p.parts) : undefined;
    return offset === undefined ? p : { ...p, location: at(offset) };
  });
  return { ok: false, hash, problems };
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
