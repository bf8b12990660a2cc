import type { z } from "zod";

type AnySchema = z.core.$ZodType;

function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  for (;;) {
    const def = current._zod.def as unknown as Record<string, unknown> & { type: string };
    if (def.type === "optional" || def.type === "default" || def.type === "nullable" || def.type === "prefault") {
      current = def.innerType as AnySchema;
    } else if (def.type === "pipe") {
      current = def.in as AnySchema;
    } else return current;
  }
}

/**
 * The keys an object schema allows at `path` (walking objects, arrays, records and wrappers),
 * used to suggest the intended key when a document has an unknown one.
 */
export function keysAt(schema: AnySchema, path: readonly PropertyKey[]): string[] | undefined {
  let node: AnySchema | undefined = unwrap(schema);
  for (const part of path) {
    const def = node._zod.def as unknown as Record<string, unknown> & { type: string };
    if (def.type === "object") node = (def.shape as Record<string, AnySchema>)[String(part)];
    else if (def.type === "array") node = def.element as AnySchema;
    else if (def.type === "record") node = def.valueType as AnySchema;
    else if (def.type === "union") {
      node = (def.options as AnySchema[]).map(unwrap).find((o) => (o._zod.def as { type: string }).type === "object");
    } else return undefined;
    if (!node) return undefined;
    node = unwrap(node);
  }
  const def = node._zod.def as unknown as Record<string, unknown> & { type: string };
  if (def.type === "union") {
    const object = (def.options as AnySchema[]).map(unwrap).find((o) => (o._zod.def as { type: string }).type === "object");
    return object ? Object.keys((object._zod.def as unknown as { shape: object }).shape) : undefined;
  }
  return def.type === "object" ? Object.keys(def.shape as object) : undefined;
}
