import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { ConfigShape } from "./config.ts";
import { configJsonSchema, configJsonSchemaText, SCHEMA_FILE } from "./write-json-schema.ts";

type Schema = Record<string, unknown>;

const QUICKSTART = fileURLToPath(new URL("../examples/quickstart.yaml", import.meta.url));

/**
 * Checks a value against the subset of JSON Schema the generator emits ($ref, type, properties,
 * required, additionalProperties, propertyNames, items, minItems, minLength, pattern, enum, const,
 * anyOf) and returns the paths it breaks, so the committed schema is tested by what editors do with it.
 */
function schemaErrors(root: Schema, schema: Schema, value: unknown, path = "$"): string[] {
  if (typeof schema.$ref === "string") {
    const name = schema.$ref.replace(/^#\/\$defs\//, "");
    const target = (root.$defs as Record<string, Schema>)[name];
    assert.ok(target, `unresolved ${schema.$ref}`);
    return schemaErrors(root, target, value, path);
  }
  if (Array.isArray(schema.anyOf)) {
    const branches = (schema.anyOf as Schema[]).map((s) => schemaErrors(root, s, value, path));
    return branches.some((b) => b.length === 0) ? [] : branches.reduce((a, b) => (a.length <= b.length ? a : b));
  }
  const errors: string[] = [];
  const types = schema.type === undefined ? [] : ([] as string[]).concat(schema.type as string | string[]);
  const typeOf = Array.isArray(value) ? "array" : value === null ? "null" : Number.isInteger(value) ? "integer" : typeof value;
  if (types.length && !types.includes(typeOf) && !(typeOf === "integer" && types.includes("number"))) return [`${path}: expected ${types.join("|")}, got ${typeOf}`];
  if ("const" in schema && value !== schema.const) errors.push(`${path}: expected ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) errors.push(`${path}: not one of ${schema.enum.join(", ")}`);
  if (typeof value === "string") {
    if (typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(value)) errors.push(`${path}: does not match ${schema.pattern}`);
    if (typeof schema.minLength === "number" && value.length < schema.minLength) errors.push(`${path}: too short`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === "number" && value.length < schema.minItems) errors.push(`${path}: too few items`);
    if (schema.items) value.forEach((item, i) => errors.push(...schemaErrors(root, schema.items as Schema, item, `${path}[${i}]`)));
  }
  if (typeOf === "object") {
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const key of (schema.required ?? []) as string[]) if (!(key in object)) errors.push(`${path}.${key}: required`);
    for (const [key, item] of Object.entries(object)) {
      if (schema.propertyNames) errors.push(...schemaErrors(root, schema.propertyNames as Schema, key, `${path}{${key}}`));
      if (properties[key]) errors.push(...schemaErrors(root, properties[key]!, item, `${path}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${path}.${key}: not allowed`);
      else if (typeof schema.additionalProperties === "object") errors.push(...schemaErrors(root, schema.additionalProperties as Schema, item, `${path}.${key}`));
    }
  }
  return errors;
}

describe("config/portico.schema.json", () => {
  it("is up to date with the zod schema (run `npm run schema` after changing config/schema)", () => {
    const committed = readFileSync(SCHEMA_FILE, "utf8");
    const expected = configJsonSchemaText();
    if (committed !== expected) {
      assert.deepEqual(JSON.parse(committed), JSON.parse(expected), "config/portico.schema.json is out of date: run `npm run schema`");
      assert.fail("config/portico.schema.json is formatted differently from the generator's output: run `npm run schema`");
    }
  });

  it("is where the examples point editors to", () => {
    assert.ok(SCHEMA_FILE.replace(/\\/g, "/").endsWith("/config/portico.schema.json"), SCHEMA_FILE);
    const directive = /yaml-language-server: \$schema=(\S+)/.exec(readFileSync(QUICKSTART, "utf8"));
    assert.ok(directive, "quickstart.yaml names its schema");
    assert.equal(fileURLToPath(new URL(directive[1]!, new URL("../examples/quickstart.yaml", import.meta.url))), SCHEMA_FILE);
  });
});

describe("configJsonSchema", () => {
  const schema = configJsonSchema();
  const defs = schema.$defs as Record<string, Schema>;

  it("is a draft 2020-12 schema of a map with exactly the configuration's sections", () => {
    assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
    assert.equal(schema.type, "object");
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(Object.keys(schema.properties as object), Object.keys(ConfigShape.shape));
    assert.equal(schema.required, undefined, "every section may be left out");
  });

  it("describes what is written in a file: required keys, and durations as text or numbers defaulting to 30s", () => {
    assert.deepEqual(defs.Api!.required, ["name", "path", "backend"]);
    assert.equal(defs.Api!.additionalProperties, false);
    assert.deepEqual(defs.Operation!.required, ["method", "url"]);
    assert.deepEqual(defs.Backend!.required, ["urls"]);
    const timeout = (defs.Backend!.properties as Record<string, Schema>).timeout!;
    assert.deepEqual(timeout.type, ["string", "number"]);
    assert.equal(timeout.default, "30s");
    assert.match(String(timeout.description), /bare number counts as seconds/);
  });

  it("accepts the quickstart configuration", () => {
    assert.deepEqual(schemaErrors(schema, schema, parse(readFileSync(QUICKSTART, "utf8"))), []);
  });

  it("accepts the contract's example", () => {
    const example = parse(`
apis:
  - name: orders
    path: /orders
    hosts: [api.example.com]
    backend: orders
    operations:
      - { name: get-order, method: GET, url: "/{id}" }   # quoted: a plain /{id} inside a flow map is not valid YAML
    policies:
      inbound:  [ base, { policy: rate-limit-by-key, with: { calls: 100, renewal-period: 60, counter-key: "{request.ip}" } } ]
      outbound: [ { policy: set-header, with: { name: x-served-by, value: portico, exists-action: override } } ]
backends:
  orders: { urls: [http://127.0.0.1:9000/v2], timeout: 30s }
hostnames:
  - { host: api.example.com, cert: ./certs/api.pem, key: ./certs/api-key.pem, negotiateClientCertificate: false }
policies:
  add-tenant: { module: ./policies/add-tenant.wasm, sha256: "${"a".repeat(64)}", budget: { fuel: 5000000, memory: 4MiB }, failure: closed }
gateways:
  edge-1: { apis: [orders], hostnames: [api.example.com] }
`);
    assert.deepEqual(schemaErrors(schema, schema, example), []);
  });

  it("flags what an editor should flag", () => {
    const errors = schemaErrors(schema, schema, {
      apis: [{ name: "bad name", path: "orders", backend: "b", bakend: "b" }, { path: "/x", backend: "b" }],
      backends: { b: { urls: [], timeout: true } },
      extra: 1,
    });
    assert.deepEqual(errors.sort(), [
      "$.apis[0].bakend: not allowed",
      "$.apis[0].name: does not match ^[A-Za-z0-9][A-Za-z0-9._-]*$",
      "$.apis[0].path: does not match ^\\/[^?#\\s]*$",
      "$.apis[1].name: required",
      "$.backends.b.timeout: expected string|number, got boolean",
      "$.backends.b.urls: too few items",
      "$.extra: not allowed",
    ]);
  });
});
