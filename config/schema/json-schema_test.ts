import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020.js";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { ConfigShape } from "./config.ts";
import { configJsonSchema, configJsonSchemaText, SCHEMA_FILE } from "./write-json-schema.ts";

type Schema = Record<string, unknown>;

const QUICKSTART = fileURLToPath(new URL("../examples/quickstart.yaml", import.meta.url));
const EXAMPLES = fileURLToPath(new URL("../examples/", import.meta.url));

/**
 * The committed schema file compiled by Ajv, a JSON Schema validator for draft 2020-12, as an
 * editor's language server would use it. Strict mode makes an unknown keyword in the schema an
 * error; union types (`["string", "number"]`) are part of the schema on purpose.
 */
function committedSchemaValidator(): ValidateFunction {
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  return ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, "utf8")) as Schema);
}

/** What Ajv reports for a value, one `PATH KEYWORD` line per error (`/apis/0/name pattern`), sorted; none when it is valid. */
function ajvErrors(validate: ValidateFunction, value: unknown): string[] {
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) =>
    `${e.instancePath || "/"} ${e.keyword}${e.keyword === "additionalProperties" ? ` ${(e.params as { additionalProperty: string }).additionalProperty}` : ""}`
  ).sort();
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
});

describe("config/portico.schema.json checked by Ajv (draft 2020-12)", () => {
  it("compiles in strict mode", () => {
    assert.equal(typeof committedSchemaValidator(), "function");
  });

  it("accepts every example configuration in config/examples", () => {
    const validate = committedSchemaValidator();
    const files = readdirSync(EXAMPLES).filter((f) => /\.(ya?ml|json)$/.test(f));
    assert.ok(files.includes("quickstart.yaml"), files.join(", "));
    for (const file of files) assert.deepEqual(ajvErrors(validate, parse(readFileSync(join(EXAMPLES, file), "utf8"))), [], file);
  });

  it("accepts a configuration that uses every section: APIs with operations and policies, backends, host names, custom policies, gateways, products, subscriptions", () => {
    const example = parse(`
global:
  policies: { outbound: [ { policy: set-header, with: { name: x-served-by, value: portico } } ] }
apis:
  - name: orders
    path: /orders
    hosts: [api.example.com]
    backend: orders
    subscriptionRequired: true
    subscriptionKey: { header: X-Api-Key, query: api-key }
    operations:
      - { name: get-order, method: GET, url: "/{id}" }   # quoted: a plain /{id} inside a flow map is not valid YAML
    policies:
      inbound:  [ base, { policy: rate-limit-by-key, with: { calls: 100, renewal-period: 60, counter-key: "{request.ip}" } } ]
      outbound: [ { policy: set-header, with: { name: x-served-by, value: portico, exists-action: override } } ]
      on-error: [ { policy: add-tenant, failure: open } ]
backends:
  orders: { urls: [http://127.0.0.1:9000/v2], timeout: 30s, concurrency: { max: 64, queue: 128, queueTimeout: 2s } }
hostnames:
  - { host: api.example.com, cert: ./certs/api.pem, key: ./certs/api-key.pem, negotiateClientCertificate: false }
policies:
  add-tenant: { module: ./policies/add-tenant.wasm, sha256: "${"a".repeat(64)}", budget: { fuel: 5000000, memory: 4MiB }, failure: closed }
gateways:
  edge-1: { apis: [orders], hostnames: [api.example.com] }
products:
  - { name: gold, apis: [orders], subscriptionRequired: true, state: published, policies: { inbound: [ base ] } }
subscriptions:
  - { name: alice, scope: "product:gold", state: active, expires: "2030-01-01T00:00:00Z", primaryKey: alice-primary-key-0001, secondaryKey: { env: ALICE_KEY } }
  - { name: bob, scope: all-apis, primaryKey: { file: ./keys/bob }, secondaryKey: { hash: "hmac-sha256:${"0".repeat(32)}:${"f".repeat(64)}" } }
namedValues:
  tenant: { value: acme }
  limit: { value: 100 }
  api-key: { value: not-a-real-key, secret: true }
  backend.token: { env: BACKEND_TOKEN }
  client.secret: { file: ./secrets/client, secret: true }
`);
    assert.deepEqual(Object.keys(example).sort(), Object.keys(ConfigShape.shape).sort(), "every top-level section is used");
    assert.deepEqual(ajvErrors(committedSchemaValidator(), example), []);
  });

  it("reports each mistake an editor should flag at its path: unknown keys, bad names and paths, missing keys, wrong types, empty lists", () => {
    const errors = ajvErrors(committedSchemaValidator(), {
      apis: [{ name: "bad name", path: "orders", backend: "b", bakend: "b" }, { path: "/x", backend: "b" }],
      backends: { b: { urls: [], timeout: true } },
      extra: 1,
    });
    assert.deepEqual(errors, [
      "/ additionalProperties extra",
      "/apis/0 additionalProperties bakend",
      "/apis/0/name pattern",
      "/apis/0/path pattern",
      "/apis/1 required",
      "/backends/b/timeout type",
      "/backends/b/urls minItems",
    ]);
  });
});
