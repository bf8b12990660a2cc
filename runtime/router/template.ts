import type { OperationSpec } from "../../config/snapshot/build.ts";

/** One segment of a URL template: a literal, a named parameter, or a catch-all parameter (last only). */
type Segment = { kind: "literal"; text: string } | { kind: "param"; name: string } | { kind: "rest"; name: string };

/** An operation ready for matching: its method, its parsed template and a specificity rank. */
export interface CompiledOperation {
  readonly name: string;
  /** Position of the operation in its API's `operations` list, for finding what belongs to it. */
  readonly index: number;
  readonly method: string;
  readonly template: string;
  readonly segments: readonly Segment[];
  /**
   * Lower sorts first: position by position, a literal beats a parameter, and the end of a
   * template beats a catch-all there (so `/` wins over `/{rest*}` for an empty rest).
   */
  readonly rank: string;
}

/** Parses `/{id}/items/{rest*}` into segments; the schema has already checked its form. */
export function compileOperation(op: OperationSpec, index: number): CompiledOperation {
  const parts = op.url === "/" ? [] : op.url.slice(1).split("/");
  const segments: Segment[] = parts.map((part) => {
    if (!part.startsWith("{")) return { kind: "literal", text: part };
    const name = part.slice(1, -1);
    return name.endsWith("*") ? { kind: "rest", name: name.slice(0, -1) } : { kind: "param", name };
  });
  const rank = segments.map((s) => (s.kind === "literal" ? "0" : s.kind === "param" ? "1" : "3")).join("") + "2";
  return { name: op.name, index, method: op.method, template: op.url, segments, rank };
}

function decode(text: string): string {
  if (!text.includes("%")) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Matches the part of a path after the API prefix ("" or "/...") against a template.
 * Returns the decoded parameters, or undefined when the path does not fit.
 */
export function matchTemplate(op: CompiledOperation, rest: string): Record<string, string> | undefined {
  const parts = rest === "" || rest === "/" ? [] : rest.slice(1).split("/");
  const params: Record<string, string> = {};
  const segments = op.segments;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment.kind === "rest") {
      params[segment.name] = decode(parts.slice(i).join("/"));
      return params;
    }
    const part = parts[i];
    if (part === undefined) return undefined;
    if (segment.kind === "literal") {
      if (part !== segment.text) return undefined;
    } else {
      if (part === "") return undefined;
      params[segment.name] = decode(part);
    }
  }
  return parts.length === segments.length ? params : undefined;
}
