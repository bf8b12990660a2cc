// The disk spool: serialized OTLP batches that could not be sent, one file per batch, bounded in
// bytes across all signals. This file only keeps the files and their order and bound; when to
// spool and when to replay is decided in runtime/observability/otlp/lane.ts.
//
// On disk: PATH/traces, PATH/metrics, PATH/logs; in each, files named by a 16-digit sequence number
// and the encoding (`0000000000000042.pb`, `0000000000000043.json`) holding the exact request body.
// Sequence numbers grow across signals and restarts (the next is one more than the largest found),
// so names sort in the order batches were spooled. A file is written as `.NAME.tmp` and renamed,
// so a crash leaves either a whole batch or a temp file, which the next start deletes.

import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { OtlpSignal } from "./transport.ts";

/** The encodings a spooled batch can be in: the file's extension. */
export type SpoolEncoding = "pb" | "json";

/** One spooled batch. `written` settles once its file is complete (false: the write failed). */
export interface SpoolEntry {
  readonly seq: number;
  readonly signal: OtlpSignal;
  readonly encoding: SpoolEncoding;
  readonly file: string;
  readonly bytes: number;
  readonly written: Promise<boolean>;
  /** Set once the entry left the spool (sent, refused, evicted or failed to write). */
  removed: boolean;
}

/** Why batches left the spool without being delivered, as the spool reports it. */
export interface SpoolDrop {
  signal: OtlpSignal;
  batches: number;
  bytes: number;
  reason: string;
}

const SIGNALS: readonly OtlpSignal[] = ["traces", "metrics", "logs"];
const NAME = /^(\d{16})\.(pb|json)$/;

/**
 * A bounded, ordered store of batches per signal under one directory. Batches are appended at a
 * signal's tail and taken from its head; when an append would pass `maxBytes`, the oldest batches
 * of any signal are deleted first and reported through `onDrop`. Only one process may use a
 * directory at a time. All file I/O is asynchronous; the bookkeeping (order, bytes) is synchronous,
 * so the bound holds even with appends of several signals in flight.
 */
export class DiskSpool {
  /** Settles when the directories exist and the files of an earlier process have been listed. */
  readonly ready: Promise<void>;
  private readonly lanes: Record<OtlpSignal, SpoolEntry[]> = { traces: [], metrics: [], logs: [] };
  private total = 0;
  private nextSeq = 1;
  /** Deletions started by evictions, so that `idle()` can wait for them. */
  private readonly deleting = new Set<Promise<void>>();
  /** Why the directory cannot be used (it could not be created or listed); appends then fail. */
  private unusable: string | undefined;

  constructor(
    readonly path: string,
    readonly maxBytes: number,
    private readonly onDrop: (drop: SpoolDrop) => void,
  ) {
    this.ready = this.load().catch((error) => {
      this.unusable = `spool directory unusable (${codeOf(error)})`;
    });
  }

  /** Bytes and batches held now, all signals together (including batches being written). */
  size(): { bytes: number; batches: number } {
    return { bytes: this.total, batches: this.lanes.traces.length + this.lanes.metrics.length + this.lanes.logs.length };
  }

  /** The number of batches held for one signal. */
  count(signal: OtlpSignal): number {
    return this.lanes[signal].length;
  }

  /** The oldest batch of a signal, if any. */
  head(signal: OtlpSignal): SpoolEntry | undefined {
    return this.lanes[signal][0];
  }

  /**
   * Adds a batch at a signal's tail, making room by deleting the oldest batches of any signal.
   * Returns the entry, or a reason when the batch cannot be kept at all (larger than the bound).
   * Appends of one signal must not overlap (the lane serializes them), so a signal's order is the
   * order of its appends. The entry is in the spool at once; its `written` settles with the file.
   */
  append(signal: OtlpSignal, encoding: SpoolEncoding, data: Uint8Array): SpoolEntry | string {
    if (this.unusable !== undefined) return this.unusable;
    if (data.length > this.maxBytes) return `batch of ${data.length} bytes is larger than the spool (${this.maxBytes} bytes)`;
    this.makeRoom(data.length);
    const seq = this.nextSeq++;
    const name = `${String(seq).padStart(16, "0")}.${encoding}`;
    const dir = join(this.path, signal);
    const file = join(dir, name);
    const temp = join(dir, `.${name}.tmp`);
    const entry: Mutable<SpoolEntry> = { seq, signal, encoding, file, bytes: data.length, written: Promise.resolve(false), removed: false };
    entry.written = this.write(entry, temp, data);
    this.lanes[signal].push(entry);
    this.total += data.length;
    return entry;
  }

  /** Writes a batch's file (temp file, then rename); false when that failed, which drops the batch. */
  private async write(entry: SpoolEntry, temp: string, data: Uint8Array): Promise<boolean> {
    try {
      await writeFile(temp, data);
      await rename(temp, entry.file);
    } catch (error) {
      await unlink(temp).catch(() => {});
      if (!entry.removed) {
        this.take(entry);
        this.onDrop({ signal: entry.signal, batches: 1, bytes: entry.bytes, reason: `spool write failed (${codeOf(error)})` });
      }
      return false;
    }
    // Evicted while it was being written: the file must not outlive its entry.
    if (entry.removed) await unlink(entry.file).catch(() => {});
    return true;
  }

  /** Settles when the files of evicted batches are deleted. */
  async idle(): Promise<void> {
    await Promise.all(this.deleting);
  }

  /** The bytes of a spooled batch; undefined when its file is gone or unreadable. */
  async read(entry: SpoolEntry): Promise<Uint8Array | undefined> {
    if (!(await entry.written)) return undefined;
    try {
      return new Uint8Array(await readFile(entry.file));
    } catch {
      return undefined;
    }
  }

  /** Deletes a batch (sent or given up on). Removing an entry already removed does nothing. */
  async remove(entry: SpoolEntry): Promise<void> {
    if (entry.removed) return;
    this.take(entry);
    if (await entry.written) await unlink(entry.file).catch(() => {});
  }

  private take(entry: SpoolEntry): void {
    entry.removed = true;
    const lane = this.lanes[entry.signal];
    const index = lane.indexOf(entry);
    if (index >= 0) lane.splice(index, 1);
    this.total -= entry.bytes;
  }

  /** Deletes the oldest batches, across signals, until `incoming` more bytes fit. */
  private makeRoom(incoming: number): void {
    const dropped = new Map<OtlpSignal, { batches: number; bytes: number }>();
    while (this.total + incoming > this.maxBytes) {
      let oldest: SpoolEntry | undefined;
      for (const signal of SIGNALS) {
        const head = this.lanes[signal][0];
        if (head !== undefined && (oldest === undefined || head.seq < oldest.seq)) oldest = head;
      }
      if (oldest === undefined) break;
      const deletion = this.remove(oldest);
      this.deleting.add(deletion);
      void deletion.then(() => this.deleting.delete(deletion));
      const counts = dropped.get(oldest.signal) ?? { batches: 0, bytes: 0 };
      counts.batches++;
      counts.bytes += oldest.bytes;
      dropped.set(oldest.signal, counts);
    }
    for (const [signal, counts] of dropped) this.onDrop({ signal, ...counts, reason: "spool full: oldest batches deleted" });
  }

  /** Creates the directories, deletes stale temp files, and lists the batches left by a previous process. */
  private async load(): Promise<void> {
    const found: SpoolEntry[] = [];
    for (const signal of SIGNALS) {
      const dir = join(this.path, signal);
      await mkdir(dir, { recursive: true });
      for (const name of await readdir(dir)) {
        if (name.startsWith(".") && name.endsWith(".tmp")) {
          await unlink(join(dir, name)).catch(() => {});
          continue;
        }
        const match = NAME.exec(name);
        if (match === null) continue;
        const file = join(dir, name);
        const info = await stat(file).catch(() => undefined);
        if (info === undefined || !info.isFile()) continue;
        const seq = Number(match[1]);
        found.push({ seq, signal, encoding: match[2] as SpoolEncoding, file, bytes: info.size, written: Promise.resolve(true), removed: false });
      }
    }
    found.sort((a, b) => a.seq - b.seq);
    // Batches appended while loading got sequence numbers from 1; renumbering them is not needed,
    // because the lane waits for `ready` before its first append.
    for (const entry of found) {
      this.lanes[entry.signal].push(entry);
      this.total += entry.bytes;
      if (entry.seq >= this.nextSeq) this.nextSeq = entry.seq + 1;
    }
    // A smaller bound than the previous process had: trim to it now.
    this.makeRoom(0);
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /^[A-Z0-9_]{1,32}$/.test(code) ? code : error instanceof Error ? error.name : "error";
}
