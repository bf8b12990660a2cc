import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { contentHash, loadConfigText, type LoadResult } from "./load.ts";
import { formatProblem } from "./schema/problems.ts";

/** Loads text that must fail; returns its problems as `location: path: message` lines. */
function failures(text: string, source = "portico.yaml"): string[] {
  const result = loadConfigText(text, source);
  if (result.ok) assert.fail(`expected problems, the configuration loaded: ${JSON.stringify(result.config)}`);
  return result.problems.map(formatProblem);
}

function loaded(result: LoadResult) {
  if (!result.ok) assert.fail(`expected the configuration to load:\n${result.problems.map(formatProblem).join("\n")}`);
  return result;
}

const GOOD_YAML = `# a comment
apis:
  - name: orders
    path: /orders
    backend: orders
    operations:
      - { name: get-order, method: GET, url: "/{id}" }
backends:
  orders: { urls: [http://127.0.0.1:9000/v2], timeout: 10s }
`;

describe("loadConfigText: valid text", () => {
  it("loads YAML, with the source and the content hash", () => {
    const result = loaded(loadConfigText(GOOD_YAML, "config/portico.yaml"));
    assert.equal(result.source, "config/portico.yaml");
    assert.equal(result.config.apis[0]!.name, "orders");
    assert.equal(result.config.apis[0]!.operations![0]!.url, "/{id}");
    assert.equal(result.config.backends.orders!.timeout, 10_000);
    assert.equal(result.hash, contentHash(GOOD_YAML));
  });

  it("loads JSON text to the same configuration", () => {
    const json = JSON.stringify(
      {
        apis: [{ name: "orders", path: "/orders", backend: "orders", operations: [{ name: "get-order", method: "GET", url: "/{id}" }] }],
        backends: { orders: { urls: ["http://127.0.0.1:9000/v2"], timeout: "10s" } },
      },
      null,
      2,
    );
    const fromJson = loaded(loadConfigText(json, "portico.json"));
    const fromYaml = loaded(loadConfigText(GOOD_YAML, "portico.yaml"));
    assert.deepEqual(fromJson.config, fromYaml.config);
    assert.notEqual(fromJson.hash, fromYaml.hash);
  });

  it("loads an empty file, or one with only comments, as an empty configuration", () => {
    for (const text of ["", "# nothing yet\n", "---\n"]) {
      const result = loaded(loadConfigText(text, "empty.yaml"));
      assert.deepEqual(result.config, { apis: [], backends: {}, hostnames: [], policies: {}, gateways: {}, products: [], subscriptions: [], namedValues: {} });
    }
  });

  it("expands YAML anchors and aliases", () => {
    const text = `backends:
  a: &pool { urls: [http://127.0.0.1:9000] }
  b: *pool
`;
    const result = loaded(loadConfigText(text, "a.yaml"));
    assert.deepEqual(result.config.backends.b!.urls, ["http://127.0.0.1:9000"]);
  });
});

describe("content hash", () => {
  it("is the sha256 of the text's UTF-8 bytes, in lower-case hex", () => {
    assert.equal(contentHash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert.equal(contentHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const text = "apis: [] # café ✓\n";
    assert.equal(contentHash(text), contentHash(new TextEncoder().encode(text)));
    assert.match(contentHash(text), /^[0-9a-f]{64}$/);
  });

  it("comes with every result, valid or not, and changes with any byte", () => {
    assert.equal(loadConfigText("abc", "x.yaml").hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert.equal(loadConfigText("apis: [\n", "x.yaml").hash, contentHash("apis: [\n"));
    assert.notEqual(loadConfigText("apis: []\n", "x.yaml").hash, loadConfigText("apis: [] \n", "x.yaml").hash);
  });
});

describe("loadConfigText: problems with their place in the file", () => {
  it("gives every problem its file:line:column", () => {
    const text = `apis:
  - name: orders
    path: /orders
    backend: orders
  - name: users
    path: users
    backend: users
  - name: shop
    path: /shop
    backend: ordrs
    bakend: x
backends:
  orders: { urls: [http://127.0.0.1:9000] }
  users:
    urls: [ftp://users.internal]
`;
    assert.deepEqual(failures(text, "conf/p.yaml"), [
      'conf/p.yaml:6:5: apis[1].path: expected a path starting with "/" and without query, fragment or spaces (got "users")',
      'conf/p.yaml:11:5: apis[2].bakend: unknown key (did you mean "backend"?)',
      'conf/p.yaml:15:12: backends.users.urls[0]: expected an http:// or https:// URL without query, fragment or credentials (got "ftp://users.internal")',
      'conf/p.yaml:10:5: apis[2].backend: unknown backend "ordrs" (did you mean "orders"? known: orders, users)',
    ]);
  });

  it("places cross-reference problems too", () => {
    const text = `apis:
  - { name: orders, path: /orders, backend: orders }
  - { name: users, path: /users, backend: users }
  - { name: shop, path: /shop, backend: ordrs }
backends:
  orders: { urls: [http://127.0.0.1:9000] }
  users: { urls: [http://127.0.0.1:9001] }
`;
    assert.deepEqual(failures(text), ['portico.yaml:4:32: apis[2].backend: unknown backend "ordrs" (did you mean "orders"? known: orders, users)']);
  });

  it("places an unknown key at the key, even when its value starts on a later line", () => {
    const text = `apis:
  - name: a
    path: /a
    backend: b
    bakend:
      nested: 1
backends:
  b: { urls: [http://x] }
`;
    assert.deepEqual(failures(text), ['portico.yaml:5:5: apis[0].bakend: unknown key (did you mean "backend"?)']);
  });

  it("places a missing key at the map that lacks it", () => {
    const text = `apis:
  - name: a
    path: /a
`;
    assert.deepEqual(failures(text), ["portico.yaml:2:5: apis[0].backend: required (expected string)"]);
  });

  it("places problems in JSON text", () => {
    const text = `{
  "apis": [
    { "name": "a", "path": "/a", "backend": "ordrs" }
  ],
  "backends": { "orders": { "urls": ["http://x"], "timeout": "soon" } }
}
`;
    assert.deepEqual(failures(text, "p.json"), [
      'p.json:5:51: backends.orders.timeout: expected a duration such as "500ms", "30s" or "2m" (got "soon")',
      'p.json:3:34: apis[0].backend: unknown backend "ordrs" (did you mean "orders"? known: orders)',
    ]);
    const references = `{"apis": [{"name": "a", "path": "/a", "backend": "ordrs"}], "backends": {"orders": {"urls": ["http://x"]}}}`;
    assert.deepEqual(failures(references, "p.json"), ['p.json:1:39: apis[0].backend: unknown backend "ordrs" (did you mean "orders"? known: orders)']);
  });
});

describe("loadConfigText: text that is not a configuration", () => {
  it("reports a YAML syntax error with its place", () => {
    const found = failures("apis:\n  - name: a\n   path: /x\n");
    assert.equal(found.length, 1);
    assert.match(found[0]!, /^portico\.yaml:3:\d+: \S/);
  });

  it("reports an unclosed JSON or flow collection", () => {
    const found = failures('{"apis": [\n', "p.json");
    assert.ok(found.length >= 1);
    assert.match(found[0]!, /^p\.json:\d+:\d+: /);
  });

  it("refuses duplicate keys, at the second one", () => {
    assert.deepEqual(failures("apis: []\nbackends: {}\napis: []\n"), ["portico.yaml:3:1: Map keys must be unique"]);
    assert.deepEqual(failures(`backends:\n  a: { urls: [http://x] }\n  a: { urls: [http://y] }\n`), ["portico.yaml:3:3: Map keys must be unique"]);
    assert.deepEqual(failures('{"apis": [], "apis": []}', "p.json"), ["p.json:1:14: Map keys must be unique"]);
  });

  it("refuses a top-level list or scalar", () => {
    assert.deepEqual(failures("- name: a\n- name: b\n"), ["portico.yaml:1:1: a configuration must be a map with keys such as apis and backends"]);
    assert.deepEqual(failures("# leading comment\n[1, 2]\n"), ["portico.yaml:2:1: a configuration must be a map with keys such as apis and backends"]);
    assert.deepEqual(failures("just text\n"), ["portico.yaml:1:1: a configuration must be a map with keys such as apis and backends"]);
    assert.deepEqual(failures("42"), ["portico.yaml:1:1: a configuration must be a map with keys such as apis and backends"]);
  });

  it("refuses several documents in one file", () => {
    const found = failures("apis: []\n---\nbackends: {}\n");
    assert.equal(found.length, 1);
    assert.match(found[0]!, /^portico\.yaml:2:1: .*multiple documents/);
  });

  it("reports an alias bomb as a problem instead of throwing", () => {
    const bomb = [
      "a: &a [x, x, x, x, x, x, x, x, x, x]",
      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
      "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]",
      "",
    ].join("\n");
    const result = loadConfigText(bomb, "bomb.yaml");
    assert.equal(result.ok, false);
    assert.equal(result.hash, contentHash(bomb));
    if (!result.ok) {
      assert.equal(result.problems.length, 1);
      assert.match(result.problems[0]!.message, /alias/i);
      assert.equal(result.problems[0]!.location, "bomb.yaml:1:1");
    }
  });
});
