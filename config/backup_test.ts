import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { BACKUP_FORMAT, BackupError, BackupStore } from "./backup.ts";
import { tempDir } from "../test/harness.ts";

const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");
const store = () => new BackupStore(join(tempDir(), "nested", "backup"));

describe("configuration backup", () => {
  const text = '{"apis":[],"backends":{}}';
  const module = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);

  it("saves and loads the exact configuration bytes, revision and modules, owner-only", () => {
    const backup = store();
    assert.equal(backup.load(), undefined, "no backup yet");
    backup.save({ text, hash: sha256(text), revision: 7, gateway: "edge-1", modules: new Map([[sha256(module), module]]) });
    const loaded = backup.load()!;
    assert.equal(loaded.text, text);
    assert.equal(loaded.hash, sha256(text));
    assert.equal(loaded.revision, 7);
    assert.equal(loaded.gateway, "edge-1");
    assert.deepEqual([...loaded.modules.entries()], [[sha256(module), module]]);
    assert.equal(statSync(backup.file).mode & 0o777, 0o600);
    assert.match(readFileSync(backup.file, "utf8"), new RegExp(`^portico-backup ${BACKUP_FORMAT} [0-9a-f]{64}\\n`));
  });

  it("refuses a backup that fails its checksum, whatever byte changed", () => {
    const backup = store();
    backup.save({ text, hash: sha256(text), modules: new Map() });
    const bytes = readFileSync(backup.file);
    for (const at of [bytes.indexOf("\n") + 1, bytes.length - 1, 20]) {
      const damaged = Buffer.from(bytes);
      damaged[at] ^= 1;
      writeFileSync(backup.file, damaged);
      assert.throws(() => backup.load(), (error: Error) => error instanceof BackupError && /fails its checksum|not a Portico backup/.test(error.message));
    }
  });

  it("refuses a module whose bytes are not the ones its digest names, even under a valid checksum", () => {
    const backup = store();
    backup.save({ text, hash: sha256(text), modules: new Map([["e".repeat(64), module]]) });
    assert.throws(() => backup.load(), /holds a module whose bytes do not match its sha256 e{64}/);
  });

  it("reads format 1 (the configuration text alone)", () => {
    const backup = store();
    backup.save({ text: "x", hash: sha256("x"), modules: new Map() }); // creates the folder
    writeFileSync(backup.file, `portico-backup 1 ${sha256(text)}\n${text}`);
    const loaded = backup.load()!;
    assert.equal(loaded.text, text);
    assert.equal(loaded.hash, sha256(text));
    assert.equal(loaded.revision, undefined);
    assert.equal(loaded.modules.size, 0);
  });

  it("names a format it does not know, and a file that is not a backup", () => {
    const backup = store();
    backup.save({ text, hash: sha256(text), modules: new Map() });
    writeFileSync(backup.file, `portico-backup 9 ${sha256(text)}\n${text}`);
    assert.throws(() => backup.load(), /has format 9; this version reads formats 1 to 2/);
    writeFileSync(backup.file, text);
    assert.throws(() => backup.load(), /is not a Portico backup/);
  });
});
