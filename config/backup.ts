import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-file.ts";
import { contentHash } from "./load.ts";
import { describeError } from "./schema/problems.ts";

/** The backup format this version writes; the loader also reads every earlier one. */
export const BACKUP_FORMAT = 2;

const MAGIC = "portico-backup";

/** The last configuration a gateway compiled, with everything needed to compile it again offline. */
export interface ConfigSnapshot {
  /** The configuration's exact text as received (JSON from a control plane). */
  readonly text: string;
  /** sha256 of `text`. */
  readonly hash: string;
  /** The control plane's revision number of this view, when known (format 1 did not keep it). */
  readonly revision?: number;
  /** The gateway the view was cut for. */
  readonly gateway?: string;
  /** Policy modules the configuration references, by sha256. */
  readonly modules: ReadonlyMap<string, Uint8Array>;
  /** When the backup was written (ISO time), when known. */
  readonly savedAt?: string;
  /** The backup format it was read from: 1 held YAML or JSON text, 2 holds a control plane's JSON. */
  readonly format?: number;
}

/** A backup that exists but cannot be used; its message says why, in one line. */
export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BackupError";
  }
}

interface BodyV2 {
  savedAt: string;
  gateway?: string;
  revision?: number;
  hash: string;
  configuration: string;
  modules: Record<string, string>;
}

/**
 * The gateway's configuration backup, one file written atomically (temporary file, fsync, rename):
 * a header line `portico-backup FORMAT SHA256` then the body the checksum covers. Format 1 (the
 * configuration text alone) is still read; format 2 adds the revision and the policy modules.
 */
export class BackupStore {
  readonly file: string;

  constructor(dir: string) {
    this.file = join(dir, "configuration.backup");
  }

  /** Replaces the backup with this snapshot. */
  save(snapshot: ConfigSnapshot): void {
    const body: BodyV2 = {
      savedAt: new Date().toISOString(),
      gateway: snapshot.gateway,
      revision: snapshot.revision,
      hash: snapshot.hash,
      configuration: snapshot.text,
      modules: Object.fromEntries([...snapshot.modules].map(([digest, bytes]) => [digest, Buffer.from(bytes).toString("base64")])),
    };
    const text = JSON.stringify(body);
    writeFileAtomic(this.file, `${MAGIC} ${BACKUP_FORMAT} ${contentHash(text)}\n${text}`);
  }

  /**
   * The saved snapshot; undefined when there is no backup; a BackupError when there is one that
   * cannot be trusted (checksum, format, a module whose bytes do not match its digest).
   */
  load(): ConfigSnapshot | undefined {
    let data: string;
    try {
      data = readFileSync(this.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new BackupError(`cannot read the backup ${this.file}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`);
    }
    const newline = data.indexOf("\n");
    const header = /^portico-backup (\d+) ([0-9a-f]{64})$/.exec(newline < 0 ? data : data.slice(0, newline));
    if (!header) throw new BackupError(`${this.file} is not a Portico backup (no "portico-backup FORMAT SHA256" header)`);
    const format = Number(header[1]);
    const body = data.slice(newline + 1);
    if (contentHash(body) !== header[2]) throw new BackupError(`the backup ${this.file} fails its checksum (damaged or edited); refusing to load any of it`);
    if (format === 1) return { text: body, hash: contentHash(body), modules: new Map(), format };
    if (format !== 2) throw new BackupError(`the backup ${this.file} has format ${format}; this version reads formats 1 to ${BACKUP_FORMAT}`);
    return readV2(body, this.file);
  }
}

function readV2(body: string, file: string): ConfigSnapshot {
  let parsed: BodyV2;
  try {
    parsed = JSON.parse(body) as BodyV2;
  } catch {
    throw new BackupError(`the backup ${file} passes its checksum but is not valid JSON`);
  }
  if (typeof parsed.configuration !== "string" || contentHash(parsed.configuration) !== parsed.hash) {
    throw new BackupError(`the backup ${file} holds a configuration whose sha256 is not the one recorded`);
  }
  const modules = new Map<string, Uint8Array>();
  for (const [digest, base64] of Object.entries(parsed.modules ?? {})) {
    const bytes = new Uint8Array(Buffer.from(base64, "base64"));
    if (contentHash(bytes) !== digest) throw new BackupError(`the backup ${file} holds a module whose bytes do not match its sha256 ${digest}`);
    modules.set(digest, bytes);
  }
  return { text: parsed.configuration, hash: parsed.hash, revision: parsed.revision, gateway: parsed.gateway, modules, savedAt: parsed.savedAt, format: 2 };
}
