import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { SubscriptionKey } from "../config/schema/consumers.ts";
import { tempDir } from "../test/harness.ts";
import { ControlPlane, type EventLog } from "./service.ts";
import { generateSubscriptionKey, hashSubscriptionKey, SubscriptionKeyStore } from "./subscriptions.ts";

describe("subscription key hashes", () => {
  it("are hmac-sha256:SALT:DIGEST, the HMAC keyed by the salt's bytes over the key's UTF-8 (checked against openssl)", () => {
    // printf %s portico-test-key-0001 | openssl dgst -sha256 -mac HMAC -macopt hexkey:000102030405060708090a0b0c0d0e0f
    const salt = "000102030405060708090a0b0c0d0e0f";
    assert.equal(
      hashSubscriptionKey("portico-test-key-0001", salt),
      `hmac-sha256:${salt}:c9f8c503962c6134545ea0a564683f7113448612ec15ecd7a472c1d388693bc8`,
    );
    assert.ok(SubscriptionKey.safeParse({ hash: hashSubscriptionKey("portico-test-key-0001", salt) }).success, "the configuration accepts the form");
    assert.notEqual(hashSubscriptionKey("portico-test-key-0001", "ff".repeat(16)), hashSubscriptionKey("portico-test-key-0001", salt));
  });

  it("generated keys are 32 random bytes as URL-safe text that the configuration accepts as a key", () => {
    const key = generateSubscriptionKey();
    assert.match(key, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(key, "base64url").length, 32);
    assert.equal(SubscriptionKey.safeParse(key).data, key);
    assert.notEqual(generateSubscriptionKey(), key);
  });
});

describe("SubscriptionKeyStore", () => {
  it("stores only salted hashes, owner-only, and returns the keys once", () => {
    const dir = join(tempDir(), "state");
    const store = new SubscriptionKeyStore(dir);
    assert.equal(store.read().byName.size, 0);
    assert.equal(store.read().fingerprint, "");
    const keys = store.create("gold");
    const text = readFileSync(store.path, "utf8");
    assert.ok(!text.includes(keys.primary) && !text.includes(keys.secondary), "the file never holds a key");
    const stored = store.read();
    assert.equal(stored.byName.get("gold")!.primary!.hash, hashSubscriptionKey(keys.primary, stored.salt!));
    assert.equal(stored.byName.get("gold")!.secondary!.hash, hashSubscriptionKey(keys.secondary, stored.salt!));
    assert.match(stored.salt!, /^[0-9a-f]{64}$/);
    assert.equal(statSync(store.path).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(dir), ["subscriptions.json"], "no temporary file is left behind");
    assert.throws(() => store.create("gold"), /subscription "gold" has stored keys already/);
  });

  it("regenerates one key and keeps the other and the salt", () => {
    const store = new SubscriptionKeyStore(tempDir());
    const keys = store.create("gold");
    const before = store.read();
    const fresh = store.regenerate("gold", "primary");
    const after = store.read();
    assert.notEqual(fresh, keys.primary);
    assert.equal(after.salt, before.salt);
    assert.equal(after.byName.get("gold")!.primary!.hash, hashSubscriptionKey(fresh, after.salt!));
    assert.deepEqual(after.byName.get("gold")!.secondary, before.byName.get("gold")!.secondary);
    assert.notEqual(after.fingerprint, before.fingerprint);
  });

  it("refuses to regenerate for a name it has no keys of unless the configuration has that subscription", () => {
    const store = new SubscriptionKeyStore(tempDir());
    assert.throws(() => store.regenerate("typo", "primary"), /subscription "typo" has no stored keys and the desired configuration has no subscription/);
    const key = store.regenerate("from-yaml", "secondary", true);
    assert.equal(store.read().byName.get("from-yaml")!.secondary!.hash, hashSubscriptionKey(key, store.read().salt!));
    assert.equal(store.read().byName.get("from-yaml")!.primary, undefined);
  });

  it("makes one salt per data directory, whichever process asks first", () => {
    const dir = tempDir();
    const a = new SubscriptionKeyStore(dir);
    const b = new SubscriptionKeyStore(dir);
    const salt = a.salt();
    assert.equal(b.salt(), salt);
    assert.equal(a.salt(), salt);
  });

  it("sees changes written by another process (the CLI) at once, and refuses a file that is not its own", () => {
    const dir = tempDir();
    const server = new SubscriptionKeyStore(dir);
    const cli = new SubscriptionKeyStore(dir);
    assert.equal(server.read().byName.size, 0);
    cli.create("gold");
    assert.ok(server.read().byName.has("gold"));
    writeFileSync(server.path, '{"format":2}');
    assert.throws(() => server.read(), /not a Portico subscription key file/);
  });
});

/** A log that keeps its lines, to check what operators are told (and that no key is in it). */
function memoryLog(): EventLog & { lines: string[] } {
  const lines: string[] = [];
  const add = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push(JSON.stringify({ level, msg, ...fields }));
  return { lines, info: add("info"), warn: add("warn"), error: add("error") };
}

describe("control plane: stored subscription keys in views", () => {
  const CONFIG = `
apis:
  - { name: a, path: /a, backend: x, subscriptionRequired: true }
  - { name: b, path: /b, backend: x }
backends:
  x: { urls: ["http://127.0.0.1:9"] }
subscriptions:
  - { name: gold, scope: api:a }
gateways:
  edge-1: { apis: [a] }
  edge-2: { apis: [b] }
`;

  function plane(): { plane: ControlPlane; root: string; log: ReturnType<typeof memoryLog> } {
    const root = tempDir();
    const log = memoryLog();
    const p = new ControlPlane(root, log);
    writeFileSync(join(p.layout.config, "c.yaml"), CONFIG);
    p.reload();
    return { plane: p, root, log };
  }

  it("moves the revision of the gateways a new key reaches, at their next pull, without a restart", () => {
    const { plane: p, root, log } = plane();
    const edge1 = p.viewFor("edge-1")!;
    const edge2 = p.viewFor("edge-2")!;
    assert.equal(JSON.parse(edge1.body).subscriptions[0].primaryKey, undefined);
    assert.match(log.lines.join("\n"), /subscription has no keys, so it can pass no request.*"subscription":"gold"/);

    const cli = new SubscriptionKeyStore(join(root, "state"));
    const keys = cli.create("gold");
    const created = p.viewFor("edge-1")!;
    assert.ok(created.revision > edge1.revision, "the view changed, so its revision moved");
    assert.equal(p.revision!.number, created.revision);
    const salt = cli.read().salt!;
    assert.deepEqual(JSON.parse(created.body).subscriptions[0], {
      name: "gold",
      scope: "api:a",
      primaryKey: { hash: hashSubscriptionKey(keys.primary, salt) },
      secondaryKey: { hash: hashSubscriptionKey(keys.secondary, salt) },
    });
    assert.deepEqual(p.viewFor("edge-2"), edge2, "a gateway the subscription cannot reach downloads nothing new");

    const fresh = cli.regenerate("gold", "primary");
    const regenerated = p.viewFor("edge-1")!;
    assert.ok(regenerated.revision > created.revision);
    assert.equal(JSON.parse(regenerated.body).subscriptions[0].primaryKey.hash, hashSubscriptionKey(fresh, salt));
    const everything = [...log.lines, regenerated.body, JSON.stringify(p.status())].join("\n");
    for (const key of [keys.primary, keys.secondary, fresh]) assert.ok(!everything.includes(key), "no key in a log line, a view or the status");
    p.close();
  });

  it("applies a new key over the last good configuration while a newer one is rejected", () => {
    const { plane: p, root } = plane();
    writeFileSync(join(p.layout.config, "broken.yaml"), "apis: [ { name: c } ]\n");
    p.reload();
    assert.ok(p.rejected);
    const before = p.viewFor("edge-1")!;
    const keys = new SubscriptionKeyStore(join(root, "state")).create("gold");
    const after = p.viewFor("edge-1")!;
    assert.ok(after.revision > before.revision);
    assert.ok(p.rejected, "the broken file is still rejected");
    assert.equal(JSON.parse(after.body).subscriptions[0].primaryKey.hash, hashSubscriptionKey(keys.primary, p.subscriptionKeys.read().salt!));
    p.close();
  });

  it("keeps revision numbers across a restart when neither the configuration nor the keys changed", () => {
    const { plane: p, root } = plane();
    new SubscriptionKeyStore(join(root, "state")).create("gold");
    const view = p.viewFor("edge-1")!;
    p.close();
    const again = new ControlPlane(root, memoryLog());
    again.reload();
    assert.equal(again.viewFor("edge-1")!.revision, view.revision);
    assert.equal(again.revision!.number, p.revision!.number);
    again.close();
  });
});

describe("control plane: a damaged subscription key file", () => {
  it("is logged once, views keep the keys they had, and configuration changes still go live", () => {
    const root = tempDir();
    const log = memoryLog();
    const p = new ControlPlane(root, log);
    const config = (path: string) =>
      `apis:\n  - { name: a, path: ${path}, backend: x }\nbackends:\n  x: { urls: ["http://127.0.0.1:9"] }\nsubscriptions:\n  - { name: gold, scope: all-apis }\n`;
    writeFileSync(join(p.layout.config, "c.yaml"), config("/a"));
    const keys = new SubscriptionKeyStore(join(root, "state"));
    keys.create("gold");
    p.reload();
    const hash = JSON.parse(p.viewFor("edge-1")!.body).subscriptions[0].primaryKey.hash;
    writeFileSync(keys.path, "{ damaged");
    assert.equal(JSON.parse(p.viewFor("edge-1")!.body).subscriptions[0].primaryKey.hash, hash);
    assert.equal(JSON.parse(p.viewFor("edge-1")!.body).subscriptions[0].primaryKey.hash, hash);
    assert.equal(log.lines.filter((l) => l.includes("reading the stored subscription keys failed")).length, 1);
    writeFileSync(join(p.layout.config, "c.yaml"), config("/b"));
    p.reload();
    const view = JSON.parse(p.viewFor("edge-1")!.body);
    assert.equal(view.apis[0].path, "/b");
    assert.equal(view.subscriptions[0].primaryKey.hash, hash);
    p.close();
  });
});
