import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DiskSpool, type SpoolDrop, type SpoolEntry } from "./spool.ts";

const roots: string[] = [];
async function dir(): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), "portico-spool-"));
  roots.push(path);
  return path;
}

function bytes(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).fill(fill);
}

async function appended(spool: DiskSpool, ...args: Parameters<DiskSpool["append"]>): Promise<SpoolEntry> {
  const entry = spool.append(...args);
  assert.equal(typeof entry, "object", String(entry));
  assert.equal(await (entry as SpoolEntry).written, true);
  return entry as SpoolEntry;
}

describe("DiskSpool", () => {
  after(async () => {
    for (const root of roots) await rm(root, { recursive: true, force: true });
  });

  it("keeps batches in order per signal, and a new spool over the same directory finds them in that order", async () => {
    const path = await dir();
    const spool = new DiskSpool(path, 10_000, () => assert.fail("nothing should be dropped"));
    await spool.ready;
    await appended(spool, "traces", "pb", bytes(10, 1));
    await appended(spool, "logs", "json", bytes(20, 2));
    await appended(spool, "traces", "pb", bytes(30, 3));
    assert.deepEqual(await readdir(join(path, "traces")), ["0000000000000001.pb", "0000000000000003.pb"]);
    assert.deepEqual(await readdir(join(path, "logs")), ["0000000000000002.json"]);
    assert.deepEqual(spool.size(), { bytes: 60, batches: 3 });

    const again = new DiskSpool(path, 10_000, () => assert.fail("nothing should be dropped"));
    await again.ready;
    assert.deepEqual(again.size(), { bytes: 60, batches: 3 });
    const first = again.head("traces")!;
    assert.equal(first.seq, 1);
    assert.deepEqual(await again.read(first), bytes(10, 1));
    await again.remove(first);
    assert.deepEqual(await again.read(again.head("traces")!), bytes(30, 3));
    assert.equal(again.head("logs")!.encoding, "json");
    // Numbering continues after the largest name found, so order survives the restart.
    const next = await appended(again, "traces", "pb", bytes(5, 4));
    assert.equal(next.seq, 4);
    assert.deepEqual(await readdir(join(path, "traces")), ["0000000000000003.pb", "0000000000000004.pb"]);
    assert.deepEqual(again.size(), { bytes: 55, batches: 3 });
  });

  it("makes room by deleting the oldest batches of any signal first, and reports them", async () => {
    const path = await dir();
    const drops: SpoolDrop[] = [];
    const spool = new DiskSpool(path, 100, (drop) => drops.push(drop));
    await spool.ready;
    await appended(spool, "traces", "pb", bytes(40, 1));
    await appended(spool, "metrics", "pb", bytes(40, 2));
    await appended(spool, "logs", "pb", bytes(40, 3));
    assert.deepEqual(drops, [{ signal: "traces", batches: 1, bytes: 40, reason: "spool full: oldest batches deleted" }]);
    await spool.idle();
    assert.deepEqual(await readdir(join(path, "traces")), []);
    await appended(spool, "logs", "pb", bytes(90, 4));
    assert.deepEqual(drops.slice(1), [
      { signal: "metrics", batches: 1, bytes: 40, reason: "spool full: oldest batches deleted" },
      { signal: "logs", batches: 1, bytes: 40, reason: "spool full: oldest batches deleted" },
    ]);
    assert.deepEqual(spool.size(), { bytes: 90, batches: 1 });
    await spool.idle();
    assert.deepEqual(await readdir(join(path, "metrics")), []);
    assert.deepEqual(await readdir(join(path, "logs")), ["0000000000000004.pb"]);
  });

  it("refuses a batch larger than the whole spool without touching the others", async () => {
    const path = await dir();
    const spool = new DiskSpool(path, 50, () => assert.fail("nothing should be dropped"));
    await spool.ready;
    await appended(spool, "traces", "pb", bytes(30, 1));
    const refused = spool.append("traces", "pb", bytes(51, 2));
    assert.equal(refused, "batch of 51 bytes is larger than the spool (50 bytes)");
    assert.deepEqual(spool.size(), { bytes: 30, batches: 1 });
  });

  it("deletes stale temp files, ignores foreign files, and trims to a smaller bound on start", async () => {
    const path = await dir();
    await mkdir(join(path, "traces"), { recursive: true });
    await writeFile(join(path, "traces", ".0000000000000009.pb.tmp"), "half");
    await writeFile(join(path, "traces", "0000000000000001.pb"), bytes(30, 1));
    await writeFile(join(path, "traces", "0000000000000002.pb"), bytes(30, 2));
    await writeFile(join(path, "traces", "notes.txt"), "not a batch");
    const drops: SpoolDrop[] = [];
    const spool = new DiskSpool(path, 40, (drop) => drops.push(drop));
    await spool.ready;
    assert.deepEqual(drops, [{ signal: "traces", batches: 1, bytes: 30, reason: "spool full: oldest batches deleted" }]);
    assert.deepEqual(spool.size(), { bytes: 30, batches: 1 });
    assert.equal(spool.head("traces")!.seq, 2);
    await spool.idle();
    assert.deepEqual((await readdir(join(path, "traces"))).sort(), ["0000000000000002.pb", "notes.txt"]);
    assert.equal(await readFile(join(path, "traces", "notes.txt"), "utf8"), "not a batch");
  });

  it("reports a directory it cannot create, and then refuses appends with the reason", async () => {
    const path = await dir();
    await writeFile(join(path, "file"), "not a directory");
    const spool = new DiskSpool(join(path, "file"), 1_000, () => {});
    await spool.ready;
    const refused = spool.append("traces", "pb", bytes(1, 1));
    assert.equal(typeof refused, "string");
    assert.match(refused as string, /^spool directory unusable \(/);
  });
});
