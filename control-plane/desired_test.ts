import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { contentHash } from "../config/load.ts";
import { formatProblem } from "../config/schema/problems.ts";
import { issue, makeCa } from "../test/certificates.ts";
import { type DesiredConfig, gatewayView, loadDesired } from "./desired.ts";
import { subscriptionNotices } from "./subscription-notices.ts";
import { hashSubscriptionKey, type SubscriptionKeys } from "./subscriptions.ts";
import { ModuleStore } from "./modules.ts";
import { tempDir } from "../test/harness.ts";

const COUNTER = fileURLToPath(new URL("../policies-wasm/dist/fixtures/counter.wasm", import.meta.url));

function folder(files: Record<string, string>): { dir: string; store: ModuleStore } {
  const root = tempDir();
  const dir = join(root, "config");
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return { dir, store: new ModuleStore(join(root, "state", "modules")) };
}

function ok(files: Record<string, string>, extra?: (dir: string) => void): DesiredConfig & { store: ModuleStore } {
  const { dir, store } = folder(files);
  extra?.(dir);
  const result = loadDesired(dir, store, testSalt);
  if (!result.ok) assert.fail(result.problems.map(formatProblem).join("\n"));
  return { ...result, store };
}

function problems(files: Record<string, string>, extra?: (dir: string) => void): string[] {
  const { dir, store } = folder(files);
  extra?.(dir);
  const result = loadDesired(dir, store, testSalt);
  if (result.ok) assert.fail("expected problems");
  return result.problems.map((p) => formatProblem({ ...p, location: p.location?.slice(dir.length + 1) }));
}

/** A fixed salt: the hashes a test sees do not change between runs. */
const testSalt = () => "5a17".repeat(8);

const BACKENDS = "backends:\n  a: { urls: [http://127.0.0.1:9000] }\n";

describe("desired configuration from a folder", () => {
  it("merges every file: lists concatenated in file order, maps merged", () => {
    const desired = ok({
      "1-apis.yaml": "apis:\n  - { name: one, path: /one, backend: a }\n",
      "2-more.yml": "apis:\n  - { name: two, path: /two, backend: a }\n",
      "3-backends.json": JSON.stringify({ backends: { a: { urls: ["http://127.0.0.1:9000"] } } }),
      "notes.txt": "not configuration",
    });
    assert.deepEqual(desired.config.apis.map((a) => a.name), ["one", "two"]);
    assert.deepEqual(Object.keys(desired.config.backends), ["a"]);
  });

  it("reports every problem at its own file and line, with the merged path", () => {
    const found = problems({
      "a.yaml": `apis:\n  - { name: one, path: /one, backend: a }\n${BACKENDS}`,
      "b.yaml":
        "apis:\n  - { name: two, path: /two, backend: nowhere }\n  - { name: one, path: /three, backend: a }\nbackends:\n  a: { urls: [http://127.0.0.1:1] }\n",
    });
    assert.equal(found.length, 3, found.join("\n"));
    assert.match(found[0]!, /^b\.yaml:5:3: backends\.a: defined again \(first in .*a\.yaml:4:3\)$/);
    assert.match(found[1]!, /^b\.yaml:2:\d+: apis\[1\]\.backend: unknown backend "nowhere"/);
    assert.match(found[2]!, /^b\.yaml:3:\d+: apis\[2\]\.name: duplicate API name "one" \(also apis\[0\]\)$/);
  });

  it("reports a syntax error with its place and keeps checking the other files", () => {
    const found = problems({ "a.yaml": "apis: [ { name: x\n", "b.yaml": "apis:\n  - { name: y, path: /y, backend: none }\n" });
    assert.ok(found.some((p) => /^a\.yaml:\d+:\d+: /.test(p)), found.join("\n"));
    assert.ok(found.some((p) => /^b\.yaml:2:\d+: apis\[0\]\.backend: unknown backend "none"/.test(p)), found.join("\n"));
  });

  it("stores referenced modules by sha256, checks a given digest, and refuses unknown digests", () => {
    const digest = contentHash(readFileSync(COUNTER));
    const policies = (entry: string) =>
      `apis:\n  - { name: m, path: /m, backend: a, policies: { inbound: [ { policy: p } ] } }\n${BACKENDS}policies:\n  p: ${entry}\n`;
    const desired = ok({ "c.yaml": policies("{ module: ./p.wasm }") }, (dir) => copyFileSync(COUNTER, join(dir, "p.wasm")));
    assert.equal(desired.digests.get("p"), digest);
    assert.ok(desired.store.has(digest));
    assert.deepEqual(
      problems({ "c.yaml": policies(`{ module: ./p.wasm, sha256: "${"0".repeat(64)}" }`) }, (dir) => copyFileSync(COUNTER, join(dir, "p.wasm"))).map((p) =>
        p.replace(/ \/\S+/, " FILE")
      ),
      [
        `c.yaml:6:26: policies.p.sha256: does not match the module file FILE (its sha256 is ${digest})`,
      ],
    );
    assert.match(problems({ "c.yaml": policies(`{ sha256: "${"1".repeat(64)}" }`) })[0]!, /policies\.p\.sha256: unknown module digest/);
    assert.match(problems({ "c.yaml": policies("{ module: ./missing.wasm }") })[0]!, /policies\.p\.module: cannot read .*missing\.wasm: ENOENT/);
    assert.match(problems({ "c.yaml": policies("{ module: ./c.yaml }") })[0]!, /policies\.p\.module: .*not a WebAssembly module/);
  });

  it("changes its hash when a module file changes, even if no YAML does", () => {
    const { dir, store } = folder({ "c.yaml": `apis: []\n${BACKENDS}policies:\n  p: { module: ./p.wasm }\n` });
    copyFileSync(COUNTER, join(dir, "p.wasm"));
    const first = loadDesired(dir, store, testSalt);
    const bytes = readFileSync(COUNTER);
    writeFileSync(join(dir, "p.wasm"), Buffer.concat([bytes, Buffer.from([0, 4, 3, 97, 98, 99])])); // plus a custom section named "abc"
    const second = loadDesired(dir, store, testSalt);
    assert.ok(first.ok && second.ok);
    assert.notEqual(first.hash, second.hash);
  });
});

describe("gateway views", () => {
  const desired = () =>
    ok(
      {
        "c.yaml": `apis:
  - { name: one, path: /one, backend: a, policies: { inbound: [ { policy: p } ] } }
  - { name: two, path: /two, backend: b, operations: [ { method: GET, url: /, policies: { outbound: [ { policy: set-header, with: { name: x, value: y } } ] } } ] }
backends:
  a: { urls: [http://127.0.0.1:9000], timeout: 5s }
  b: { urls: [http://127.0.0.1:9001] }
  unused: { urls: [http://127.0.0.1:9002] }
policies:
  p: { module: ./p.wasm, budget: { fuel: 1000 } }
hostnames:
  - { host: one.example.com, cert: certs/one.example.com.pem, key: certs/one.example.com.key }
  - { host: two.example.com, cert: certs/two.example.com.pem, key: certs/two.example.com.key }
gateways:
  edge-1: { apis: [one], hostnames: [one.example.com] }
  edge-2: { apis: [two] }
`,
      },
      (dir) => {
        copyFileSync(COUNTER, join(dir, "p.wasm"));
        mkdirSync(join(dir, "certs"));
        const ca = makeCa(join(dir, "certs"));
        issue(join(dir, "certs"), ca, "one.example.com");
        issue(join(dir, "certs"), ca, "two.example.com");
      },
    );

  it("cuts each gateway's APIs with the backends and modules they use, by digest, and its host names", () => {
    const d = desired();
    const one = JSON.parse(gatewayView(d, d.config.gateways["edge-1"]).body);
    assert.deepEqual(one.apis.map((a: { name: string }) => a.name), ["one"]);
    assert.deepEqual(one.backends, { a: { urls: ["http://127.0.0.1:9000"], timeout: "5s" } }, "as written: durations stay text");
    assert.deepEqual(one.policies, { p: { budget: { fuel: 1000 }, sha256: d.digests.get("p") } }, "no module path is sent");
    assert.deepEqual(one.hostnames.map((h: { host: string }) => h.host), ["one.example.com"]);
    assert.match(one.hostnames[0].cert, /^-----BEGIN CERTIFICATE-----/, "certificates travel inline");
    assert.match(one.hostnames[0].key, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(one.gateways, undefined);
    const two = JSON.parse(gatewayView(d, d.config.gateways["edge-2"]).body);
    assert.deepEqual(Object.keys(two.backends), ["b"]);
    assert.equal(two.policies, undefined, "built-ins need no module");
    assert.equal(two.hostnames, undefined);
  });

  it("gives the whole configuration when there is no assignment, and the same bytes every time", () => {
    const d = desired();
    const all = gatewayView(d, undefined);
    assert.deepEqual(JSON.parse(all.body).apis.length, 2);
    assert.equal(gatewayView(d, undefined).hash, all.hash);
    assert.equal(all.hash, contentHash(all.body));
    assert.deepEqual(all.modules, [d.digests.get("p")]);
  });
});

describe("desired configuration: certificates", () => {
  it("reports a missing certificate or a key that does not match at its hostnames entry", () => {
    const found = problems({ "t.yaml": `apis: []\n${BACKENDS}hostnames:\n  - { host: a.test, cert: ./none.pem, key: ./none.key }\n` });
    assert.equal(found.length, 1);
    assert.match(found[0]!, /^t\.yaml:5:5: hostnames\[0\]: hostname a\.test: cannot read the certificate .*none\.pem: ENOENT$/);
  });
});

describe("desired configuration: backend TLS", () => {
  it("reads a backend's CA and client certificate and sends them inline", () => {
    const d = ok(
      {
        "b.yaml":
          `apis:\n  - { name: s, path: /s, backend: secure }\nbackends:\n  secure: { urls: ["https://10.0.0.5:8443"], tls: { ca: certs/ca.pem, cert: certs/client.test.pem, key: certs/client.test.key, sni: backend.internal } }\n`,
      },
      (dir) => {
        mkdirSync(join(dir, "certs"));
        const ca = makeCa(join(dir, "certs"));
        issue(join(dir, "certs"), ca, "client.test");
      },
    );
    const view = JSON.parse(gatewayView(d, undefined).body);
    const tls = view.backends.secure.tls;
    assert.match(tls.ca, /^-----BEGIN CERTIFICATE-----/);
    assert.match(tls.cert, /^-----BEGIN CERTIFICATE-----/);
    assert.match(tls.key, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(tls.sni, "backend.internal");
  });

  it("reports a backend TLS file it cannot read at the backend", () => {
    const found = problems({ "b.yaml": `apis: []\nbackends:\n  secure: { urls: ["https://10.0.0.5"], tls: { ca: ./missing-ca.pem } }\n` });
    assert.equal(found.length, 1);
    assert.match(found[0]!, /^b\.yaml:3:\d+: backends\.secure\.tls: backend secure: cannot read the CA certificates .*missing-ca\.pem: ENOENT$/);
  });
});

describe("desired configuration: files stay inside the configuration folder", () => {
  /** A certificate, a CA and a module outside `DIR/config` (in `DIR/outside`), each readable and valid. */
  const outside = (dir: string) => {
    const there = join(dir, "..", "outside");
    mkdirSync(there);
    const ca = makeCa(there);
    issue(there, ca, "a.test");
    copyFileSync(COUNTER, join(there, "p.wasm"));
    return there;
  };
  const API = "apis:\n  - { name: m, path: /m, backend: a, policies: { inbound: [ { policy: p } ] } }\n";

  it("refuses a certificate, key, CA or module named through .., with the field's path and place", () => {
    const found = problems(
      {
        "f.yaml": `${API}backends:
  a: { urls: ["https://10.0.0.5"], tls: { ca: ../outside/ca.pem } }
policies:
  p: { module: ../outside/p.wasm }
hostnames:
  - { host: a.test, cert: ../outside/a.test.pem, key: ./../outside/a.test.key }
`,
      },
      outside,
    );
    const at = (path: string, reference: string) =>
      new RegExp(
        `^f\\.yaml:\\d+:\\d+: ${path.replace(/[.[\]]/g, "\\$&")}: ${
          reference.replace(/\./g, "\\.")
        } is outside the configuration folder /\\S+/config \\(it resolves to /\\S+/outside/\\S+\\); the control plane reads only files inside it$`,
      );
    assert.equal(found.length, 4, found.join("\n"));
    assert.match(found[0]!, at("policies.p.module", "../outside/p.wasm"));
    assert.match(found[1]!, at("backends.a.tls.ca", "../outside/ca.pem"));
    assert.match(found[2]!, at("hostnames[0].cert", "../outside/a.test.pem"));
    assert.match(found[3]!, at("hostnames[0].key", "./../outside/a.test.key"));
  });

  it("refuses an absolute path elsewhere, and the control plane's own state folder", () => {
    let there = "";
    const found = problems({ "f.yaml": 'apis: []\nbackends:\n  a: { urls: ["https://10.0.0.5"], tls: { ca: CA } }\n' }, (dir) => {
      there = outside(dir);
      writeFileSync(join(dir, "f.yaml"), `apis: []\nbackends:\n  a: { urls: ["https://10.0.0.5"], tls: { ca: ${join(there, "ca.pem")} } }\n`);
    });
    assert.equal(found.length, 1, found.join("\n"));
    assert.match(found[0]!, /^f\.yaml:3:\d+: backends\.a\.tls\.ca: \/\S+\/outside\/ca\.pem is outside the configuration folder /);
    const state = problems({ "f.yaml": `apis: []\n${BACKENDS}hostnames:\n  - { host: a.test, cert: ../state/keys.json, key: ../state/admin-token }\n` });
    assert.equal(state.length, 2, state.join("\n"));
    assert.match(state[0]!, /hostnames\[0\]\.cert: \.\.\/state\/keys\.json is outside the configuration folder/);
  });

  it("refuses a symbolic link that leads out of the folder, and follows one that stays inside", () => {
    const found = problems({ "f.yaml": `${API}${BACKENDS}policies:\n  p: { module: linked/p.wasm }\n` }, (dir) => {
      symlinkSync(outside(dir), join(dir, "linked"));
    });
    assert.equal(found.length, 1, found.join("\n"));
    assert.match(
      found[0]!,
      /^f\.yaml:\d+:\d+: policies\.p\.module: linked\/p\.wasm is outside the configuration folder \/\S+\/config \(a symbolic link leads to \/\S+\/outside\/p\.wasm\)/,
    );
    const inside = ok({ "f.yaml": `${API}${BACKENDS}policies:\n  p: { module: modules/current.wasm }\n` }, (dir) => {
      mkdirSync(join(dir, "modules"));
      copyFileSync(COUNTER, join(dir, "modules", "v1.wasm"));
      symlinkSync("v1.wasm", join(dir, "modules", "current.wasm"));
    });
    assert.equal(inside.digests.get("p"), contentHash(readFileSync(COUNTER)));
  });
});

describe("desired configuration: products and subscriptions in views", () => {
  const FLEET = `
apis:
  - { name: orders, path: /orders, backend: a, subscriptionRequired: true }
  - { name: users, path: /users, backend: a, subscriptionRequired: true }
  - { name: admin, path: /admin, backend: a }
${BACKENDS}policies:
  p: { module: ./p.wasm }
products:
  - { name: shop, apis: [orders, users], policies: { inbound: [ { policy: p } ] } }
  - { name: back-office, apis: [admin] }
  - { name: empty }
subscriptions:
  - { name: everyone, scope: all-apis, primaryKey: "key-written-in-the-yaml-01" }
  - { name: shop-sub, scope: product:shop, state: suspended, secondaryKey: { env: PORTICO_TEST_SUB_KEY } }
  - { name: users-only, scope: api:users, primaryKey: { file: keys/users.txt } }
  - { name: office, scope: product:back-office, state: cancelled, expires: "2030-01-01T00:00:00Z" }
  - { name: nowhere, scope: product:empty }
gateways:
  edge-1: { apis: [orders] }
  edge-2: { apis: [users, admin] }
  edge-3: { apis: [] }
`;
  const load = () => {
    process.env.PORTICO_TEST_SUB_KEY = "key-from-the-environment-02";
    try {
      return ok({ "f.yaml": FLEET }, (dir) => {
        copyFileSync(COUNTER, join(dir, "p.wasm"));
        mkdirSync(join(dir, "keys"));
        writeFileSync(join(dir, "keys", "users.txt"), "key-from-a-file-000003\n");
      });
    } finally {
      delete process.env.PORTICO_TEST_SUB_KEY;
    }
  };
  const viewOf = (d: DesiredConfig, gateway: string) => JSON.parse(gatewayView(d, d.config.gateways[gateway]).body);
  const hash = (key: string) => ({ hash: hashSubscriptionKey(key, testSalt()) });

  it("sends a gateway only the subscriptions that reach its APIs, and only the products of its APIs", () => {
    const d = load();
    const edge1 = viewOf(d, "edge-1");
    assert.deepEqual(
      edge1.products.map((p: { name: string; apis: string[] }) => [p.name, p.apis]),
      [["shop", ["orders"]]],
      "a product lists this gateway's APIs only",
    );
    assert.deepEqual(edge1.subscriptions.map((s: { name: string }) => s.name), ["everyone", "shop-sub"]);
    const edge2 = viewOf(d, "edge-2");
    assert.deepEqual(edge2.products.map((p: { name: string; apis: string[] }) => [p.name, p.apis]), [["shop", ["users"]], ["back-office", ["admin"]]]);
    assert.deepEqual(edge2.subscriptions.map((s: { name: string }) => s.name), ["everyone", "shop-sub", "users-only", "office"]);
    const edge3 = viewOf(d, "edge-3");
    assert.equal(edge3.products, undefined, "no APIs: no products");
    assert.equal(edge3.subscriptions, undefined, "no APIs: not even all-apis subscriptions");
    const all = JSON.parse(gatewayView(d, undefined).body);
    assert.equal(all.subscriptions.length, 4, "without a gateways: section, every subscription that reaches an API");
    assert.equal(all.products.length, 2);
  });

  it("sends the modules product policies use, only to gateways with that product", () => {
    const d = load();
    assert.deepEqual(gatewayView(d, d.config.gateways["edge-1"]).modules, [d.digests.get("p")]);
    assert.deepEqual(viewOf(d, "edge-1").policies.p.sha256, d.digests.get("p"));
    const edge2 = gatewayView(d, { apis: ["admin"], hostnames: [] });
    assert.deepEqual(edge2.modules, []);
  });

  it("hashes every key, whether text, from the environment or from a file, and keeps state and expiry", () => {
    const d = load();
    const edge2 = viewOf(d, "edge-2");
    assert.deepEqual(edge2.subscriptions, [
      { name: "everyone", scope: "all-apis", primaryKey: hash("key-written-in-the-yaml-01") },
      { name: "shop-sub", scope: "product:shop", state: "suspended", secondaryKey: hash("key-from-the-environment-02") },
      { name: "users-only", scope: "api:users", primaryKey: hash("key-from-a-file-000003") },
      { name: "office", scope: "product:back-office", state: "cancelled", expires: "2030-01-01T00:00:00Z" },
    ]);
    const body = gatewayView(d, undefined).body;
    for (const key of ["key-written-in-the-yaml-01", "key-from-the-environment-02", "key-from-a-file-000003", "keys/users.txt", "PORTICO_TEST_SUB_KEY"]) {
      assert.ok(!body.includes(key), `the view does not carry ${key}`);
    }
  });

  it("lets a key stored by the CLI replace the configuration's, and says so", () => {
    const d = load();
    const stored: SubscriptionKeys = {
      salt: testSalt(),
      fingerprint: "x",
      byName: new Map([
        ["everyone", { primary: { hash: hashSubscriptionKey("stored-key-0000000000001", testSalt()), created: "2026-01-01T00:00:00Z" } }],
        ["ghost", { primary: { hash: hashSubscriptionKey("stored-key-0000000000002", testSalt()), created: "2026-01-01T00:00:00Z" } }],
      ]),
    };
    const view = JSON.parse(gatewayView(d, d.config.gateways["edge-1"], stored).body);
    assert.deepEqual(view.subscriptions[0].primaryKey, hash("stored-key-0000000000001"));
    assert.ok(!JSON.stringify(view).includes("ghost"), "stored keys of a name the configuration does not have go nowhere");
    assert.deepEqual(subscriptionNotices(d, stored), [
      { subscription: "everyone", message: "the primary key stored by portico subscription replaces the primaryKey written in the configuration" },
      { subscription: "office", message: "subscription has no keys, so it can pass no request: give it keys with portico subscription create --name office" },
      { subscription: "nowhere", message: "subscription has no keys, so it can pass no request: give it keys with portico subscription create --name nowhere" },
      { subscription: "ghost", message: "stored keys of a subscription the desired configuration does not have: unused" },
    ]);
  });

  it("merges products and subscriptions across files, and changes its hash when a key file changes", () => {
    const { dir, store } = folder({
      "1.yaml": `apis:\n  - { name: one, path: /one, backend: a }\n${BACKENDS}subscriptions:\n  - { name: s1, scope: all-apis, primaryKey: { file: k.txt } }\n`,
      "2.yaml": "products:\n  - { name: p, apis: [one] }\nsubscriptions:\n  - { name: s2, scope: product:p }\n",
    });
    writeFileSync(join(dir, "k.txt"), "first-key-0000000001");
    const first = loadDesired(dir, store, testSalt);
    writeFileSync(join(dir, "k.txt"), "second-key-000000002");
    const second = loadDesired(dir, store, testSalt);
    assert.ok(first.ok && second.ok);
    assert.deepEqual(second.config.subscriptions.map((s) => s.name), ["s1", "s2"]);
    assert.equal(second.config.products[0]!.name, "p");
    assert.notEqual(first.hash, second.hash);
  });

  it("reports a key it cannot read or that is not a key, at its field, without quoting it", () => {
    const found = problems({
      "k.yaml": `apis: []\n${BACKENDS}subscriptions:
  - { name: a, scope: all-apis, primaryKey: { env: PORTICO_TEST_UNSET_VARIABLE } }
  - { name: b, scope: all-apis, primaryKey: { file: ../state/subscriptions.json } }
  - { name: c, scope: all-apis, primaryKey: { file: missing.txt } }
  - { name: d, scope: all-apis, secondaryKey: { file: short.txt } }
`,
    }, (dir) => writeFileSync(join(dir, "short.txt"), "too short\n"));
    assert.equal(found.length, 4, found.join("\n"));
    assert.match(found[0]!, /^k\.yaml:5:\d+: subscriptions\[0\]\.primaryKey: the environment variable PORTICO_TEST_UNSET_VARIABLE is not set/);
    assert.match(found[1]!, /^k\.yaml:6:\d+: subscriptions\[1\]\.primaryKey: \.\.\/state\/subscriptions\.json is outside the configuration folder/);
    assert.match(found[2]!, /^k\.yaml:7:\d+: subscriptions\[2\]\.primaryKey: cannot read \S+missing\.txt: ENOENT/);
    assert.match(found[3]!, /^k\.yaml:8:\d+: subscriptions\[3\]\.secondaryKey: the key in \S+short\.txt is not a subscription key: 16 to 256/);
    assert.ok(!found.join("\n").includes("too short"));
  });
});

describe("desired configuration: products with named values", () => {
  it("sends the named values a product's policies reference to the gateways that get that product", () => {
    const d = ok({
      "n.yaml": `apis:
  - { name: one, path: /one, backend: a }
  - { name: two, path: /two, backend: a }
${BACKENDS}namedValues:
  tier: { value: gold }
products:
  - { name: p, apis: [one], policies: { inbound: [ { policy: set-header, with: { name: x-tier, value: "{{tier}}" } } ] } }
gateways:
  edge-1: { apis: [one] }
  edge-2: { apis: [two] }
`,
    });
    assert.deepEqual(JSON.parse(gatewayView(d, d.config.gateways["edge-1"]).body).namedValues, { tier: { value: "gold" } });
    assert.equal(JSON.parse(gatewayView(d, d.config.gateways["edge-2"]).body).namedValues, undefined);
  });
});
