import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * What the request side may take from the configuration side: the snapshot and the functions that
 * build one (config/snapshot), the settings and their value types, and the sources a configuration
 * arrives from before it is built (a file, a control plane, a backup). And one leaf of text helpers,
 * config/schema/problems.ts, for `describeError` (what a caught value says), which both sides use:
 * it holds no configuration type and imports nothing at run time. And config/schema/ip.ts, a leaf
 * that imports nothing: the value type of `net.server.http.forwarded.trusted-proxies` (IpRange)
 * and the address parser its ranges were made with, which the client-address walk must match.
 * And config/schema/http-token.ts, a leaf that imports nothing: what an HTTP token is, which the
 * configuration's header names and the request path's header checks must agree on.
 */
const RUNTIME_MAY_IMPORT = new Set([
  "config/snapshot/build.ts",
  "config/snapshot/snapshot.ts",
  "config/schema/settings.ts",
  "config/schema/tls.ts",
  "config/source/file.ts",
  "config/source/control-plane.ts",
  "config/backup.ts",
  "config/schema/problems.ts",
  "config/schema/ip.ts",
  "config/schema/http-token.ts",
]);

/**
 * Exceptions, each with its reason. `portico policy test` reads fixture files, which are parsed with
 * the configuration's YAML reader and checked with its module budget and header-name schemas.
 */
const EXCEPTIONS: Record<string, readonly string[]> = {
  "runtime/policy/fixtures.ts": ["config/load.ts", "config/schema/config.ts", "config/schema/introspect.ts", "config/schema/header-name.ts"],
};

/** Every TypeScript file under `dir` (relative to the repository), tests excluded: they may build their inputs any way. */
function sources(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(join(ROOT, at), { withFileTypes: true })) {
      const path = `${at}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) out.push(path);
    }
  };
  walk(dir);
  return out;
}

/** The repository-relative files a source file imports (static imports, re-exports and dynamic imports of relative paths). */
function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"|\bimport\(\s*"(\.[^"]+)"\s*\)/g)].map((m) => m[1] ?? m[2]!);
  return specifiers.map((s) => relative(ROOT, resolve(dirname(join(ROOT, file)), s)));
}

describe("the boundary between configuration and runtime (import graph)", () => {
  it("runtime/ imports from config/ only the snapshot, its builders, settings and the configuration sources", () => {
    const offending: string[] = [];
    for (const file of sources("runtime")) {
      for (const target of imports(file)) {
        if (!target.startsWith("config/")) continue;
        if (RUNTIME_MAY_IMPORT.has(target) || EXCEPTIONS[file]?.includes(target)) continue;
        offending.push(`${file} imports ${target}`);
      }
    }
    assert.deepEqual(offending, []);
  });

  it("config/ never imports runtime/ or the control plane (the golden tool, which translates through both, aside)", () => {
    const offending = sources("config").flatMap((file) =>
      file === "config/snapshot/golden.ts"
        ? []
        : imports(file).filter((t) => t.startsWith("runtime/") || t.startsWith("control-plane/")).map((t) => `${file} imports ${t}`)
    );
    assert.deepEqual(offending, []);
  });

  it("finds the imports it checks (the scan is not empty)", () => {
    assert.ok(imports("runtime/pipeline/pipeline.ts").includes("config/snapshot/build.ts"));
    assert.ok(sources("runtime").length > 50);
  });
});
