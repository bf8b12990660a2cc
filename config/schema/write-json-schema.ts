/**
 * Writes `config/portico.schema.json`, the JSON Schema of configuration files for editors
 * (`# yaml-language-server: $schema=...`), from the zod schema that is the truth (`ConfigShape`).
 * Run it after changing the schema: `npm run schema` (or `npx bun config/schema/write-json-schema.ts`);
 * a test fails while the committed file is out of date.
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ConfigShape, METHODS, PolicySections, PolicyUse } from "./config.ts";

/** Where the generated schema is committed. */
export const SCHEMA_FILE = fileURLToPath(new URL("../portico.schema.json", import.meta.url));

/**
 * The JSON Schema of what may be written in a configuration file (the input side of the zod
 * schema: durations as "30s" or numbers, defaults optional). Checks zod cannot express in JSON
 * Schema (cross-references, refinements) are left to `portico validate`.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ConfigShape, { io: "input", unrepresentable: "any", metadata: editorHelp() }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    title: "Portico gateway configuration",
    description:
      "APIs, backends, TLS host names, custom policies and gateway assignments. Generated from config/schema/config.ts by config/schema/write-json-schema.ts: do not edit by hand.",
    ...schema,
  };
}

/** Names (as `$defs`) and hover texts for the parts of the schema an editor shows most. */
function editorHelp() {
  const help = z.registry<{ id?: string; description?: string }>();
  const api = ConfigShape.shape.apis.unwrap().element;
  const backend = ConfigShape.shape.backends.unwrap().valueType;
  const operation = api.shape.operations.unwrap().element;
  help.add(api, { id: "Api", description: "An API: a path prefix (optionally bound to host names) forwarded to one backend." });
  // One schema object serves every name (APIs, backends, operations, policies), so one text describes them all.
  help.add(api.shape.name, { description: "A name of letters, digits, '.', '_' or '-'." });
  help.add(api.shape.path, { description: 'Path prefix on the gateway, e.g. "/orders"; removed before the backend URL\'s own path is put in front.' });
  help.add(api.shape.hosts, { description: "Host names this API answers on (exact, or *.example.com); any host when absent." });
  help.add(api.shape.operations, { description: "Operations of the API; when absent, every method and path under the prefix is forwarded." });
  help.add(operation, { id: "Operation", description: "An operation: a method and a URL template relative to the API's path." });
  help.add(operation.shape.method, { description: `HTTP method, any case: ${METHODS.join(", ")} (* = any method).` });
  help.add(operation.shape.url, { description: 'URL template relative to the API path, e.g. "/{id}" or "/files/{rest*}".' });
  help.add(PolicySections, { id: "PolicySections", description: "Policy chains by section; `base` includes the parent scope's chain." });
  help.add(PolicyUse, { id: "PolicyUse", description: '"base", or a policy with its parameters.' });
  help.add(backend, { id: "Backend", description: "A backend: one URL, or several forming a load-balanced pool (docs/backends.md)." });
  help.add(backend.shape.urls, {
    description:
      "http:// or https:// URLs without query, fragment or credentials (or { url, weight, priority }); the URL's path is put in front of the request's.",
  });
  help.add(backend.shape.health, { description: "Active health checks: GET path on each member's origin every interval (docs/backends.md)." });
  help.add(backend.shape.passive, { description: "Passive ejection after consecutive failed calls; on by default for pools; false turns it off." });
  help.add(backend.shape.timeout, {
    description: 'Time allowed for response headers: "500ms", "30s", "2m", "1h"; a bare number counts as seconds. Default "30s".',
  });
  help.add(ConfigShape.shape.hostnames.unwrap().element, {
    id: "TlsHostname",
    description: "A TLS host name served by the HTTPS listener, with its certificate and key files.",
  });
  help.add(ConfigShape.shape.policies.unwrap().valueType, {
    id: "PolicyModule",
    description: "A custom policy module: a file (standalone) or a sha256 digest (control plane), with its sandbox budget.",
  });
  help.add(ConfigShape.shape.gateways.unwrap().valueType, {
    id: "GatewayAssignment",
    description: "Control plane only: the APIs and host names a named gateway serves.",
  });
  return help;
}

/** The file's exact text: two-space JSON and a final newline. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

const isMain = (import.meta as { main?: boolean }).main ?? (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url));

if (isMain) {
  writeFileSync(SCHEMA_FILE, configJsonSchemaText());
  console.log(`wrote ${SCHEMA_FILE}`);
}
