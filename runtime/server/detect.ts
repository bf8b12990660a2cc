import type { RuntimeName, ServerAdapter } from "./adapter.ts";

/** The runtime this process runs on; the one place that asks. */
export function detectRuntime(): RuntimeName {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun !== undefined) return "bun";
  if (g.Deno !== undefined) return "deno";
  return "node";
}

/** Loads the adapter for the current runtime (dynamically, so no runtime loads another's server code). */
export async function loadAdapter(runtime: RuntimeName = detectRuntime()): Promise<ServerAdapter> {
  switch (runtime) {
    case "bun":
      return (await import("./bun.ts")).bunAdapter;
    case "deno":
      return (await import("./deno.ts")).denoAdapter;
    case "node":
      return (await import("./node.ts")).nodeAdapter;
  }
}
