import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { KeyStore } from "./state.ts";
import { tempDir } from "../test/harness.ts";

describe("KeyStore", () => {
  it("makes both keys of a gateway on first use, in an owner-only file", () => {
    const dir = join(tempDir(), "state");
    const store = new KeyStore(dir);
    assert.equal(store.keysOf("edge-1"), undefined);
    const primary = store.ensure("edge-1", "primary");
    assert.equal(primary.generation, 1);
    assert.equal(primary.secret.length, 32);
    assert.deepEqual(store.ensure("edge-1", "primary"), primary, "the same key on the next use");
    assert.deepEqual(store.gateways(), ["edge-1"]);
    assert.equal(statSync(store.path).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
  });

  it("regenerates one key, keeps the other, and remembers the old one as retired", () => {
    const store = new KeyStore(tempDir());
    const before = store.ensure("edge-1", "primary");
    const secondary = store.ensure("edge-1", "secondary");
    const after = store.regenerate("edge-1", "primary");
    assert.equal(after.generation, 2);
    assert.notDeepEqual(after.secret, before.secret);
    const keys = store.keysOf("edge-1")!;
    assert.deepEqual(keys.current.secondary, secondary);
    assert.deepEqual(keys.retired, [{ ...before, key: "primary" }]);
    assert.throws(() => store.regenerate("ghost", "primary"), /gateway "ghost" has no keys yet/);
  });

  it("sees changes written by another process (the CLI) without a restart", () => {
    const dir = tempDir();
    const server = new KeyStore(dir);
    const cli = new KeyStore(dir);
    cli.ensure("edge-1", "primary");
    assert.ok(server.keysOf("edge-1"));
    cli.regenerate("edge-1", "primary");
    assert.equal(server.keysOf("edge-1")!.current.primary.generation, 2);
  });

  it("does not treat inherited object keys as gateways", () => {
    const store = new KeyStore(tempDir());
    assert.equal(store.keysOf("constructor"), undefined);
    assert.equal(store.keysOf("__proto__"), undefined);
  });
});
