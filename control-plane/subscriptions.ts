/**
 * Subscription keys on the control plane: the keyed hash views carry instead of keys, and the
 * store behind `portico subscription create|regenerate|list` (`DIR/state/subscriptions.json`).
 *
 * Only salted hashes are stored, never the keys: the control plane never needs a key again once it
 * is printed (views carry the hash, and a gateway checks a presented key by hashing it), so a copy
 * of `DIR/state` or of a view gives nobody a key that works. A lost key is regenerated, not shown.
 */
import { createHmac, randomBytes } from "node:crypto";
import { linkSync, readFileSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../config/atomic-file.ts";
import { contentHash } from "../config/load.ts";
import { KEY_IDS, type KeyId } from "./tokens.ts";

/** The two keys of a subscription, as the CLI names them (`--key primary|secondary`). */
export type SubscriptionKeySlot = KeyId;

/** The configuration field of each key slot. */
export const KEY_FIELDS: Readonly<Record<SubscriptionKeySlot, "primaryKey" | "secondaryKey">> = { primary: "primaryKey", secondary: "secondaryKey" };

/** The slots in the order operators name them. */
export const KEY_SLOTS: readonly SubscriptionKeySlot[] = KEY_IDS;

/** Random bytes in a generated key: 256 bits, beyond guessing and beyond brute force of its hash. */
const KEY_BYTES = 32;

/** Random bytes of a data directory's salt. */
const SALT_BYTES = 32;

/**
 * The keyed hash of a subscription key as views carry it: `hmac-sha256:SALT:DIGEST`, DIGEST being
 * HMAC-SHA256 with the salt's bytes as the HMAC key over the key's UTF-8, both in lower-case hex.
 * A gateway hashes a presented key with each salt of its view and looks the digest up, so it never
 * holds a key, and equal keys under different salts do not look alike.
 */
export function hashSubscriptionKey(key: string, saltHex: string): string {
  const digest = createHmac("sha256", Buffer.from(saltHex, "hex")).update(key, "utf8").digest("hex");
  return `hmac-sha256:${saltHex}:${digest}`;
}

/** A new subscription key: 32 random bytes as base64url (43 URL-safe characters, fit for a header or a query parameter). */
export function generateSubscriptionKey(): string {
  return randomBytes(KEY_BYTES).toString("base64url");
}

/** One stored key: its keyed hash and when it was made. */
export interface StoredSubscriptionKey {
  readonly hash: string;
  readonly created: string;
}

/** The stored keys of one subscription (either may be missing in a file written by hand). */
export type StoredSubscription = Partial<Record<SubscriptionKeySlot, StoredSubscriptionKey>>;

interface SubscriptionFile {
  format: 1;
  /** The data directory's salt (hex): every stored key and every key written in the YAML is hashed with it. */
  salt: string;
  subscriptions: Record<string, StoredSubscription>;
}

/** What the store holds at one moment: its salt, the keys by subscription name, and a fingerprint that changes with any of them. */
export interface SubscriptionKeys {
  readonly salt: string | undefined;
  readonly byName: ReadonlyMap<string, StoredSubscription>;
  /** sha256 of the file's bytes ("" when there is no file): part of a revision's identity, so a new key makes a new revision. */
  readonly fingerprint: string;
}

/** No stored keys: what a data directory without `subscriptions.json` holds. */
export const NO_STORED_KEYS: SubscriptionKeys = { salt: undefined, byName: new Map(), fingerprint: "" };

/**
 * The subscription keys of a control plane, in `DIR/state/subscriptions.json` (mode 0600, folder
 * 0700, written atomically). The CLI writes it; the running control plane re-reads it when its
 * stamp (inode, size, time) changes, at its next watch tick or gateway pull, so a regenerated key
 * reaches views without a restart. The salt is made once per data directory, by whoever needs it
 * first, with an exclusive create so that two processes never make two salts.
 */
export class SubscriptionKeyStore {
  /** The file. */
  readonly path: string;
  #cache: { stamp: string; keys: SubscriptionKeys; file: SubscriptionFile | undefined } | undefined;

  constructor(stateDir: string) {
    this.path = join(stateDir, "subscriptions.json");
  }

  /** Changes whenever the file is replaced or rewritten: cheap enough to check on every pull. */
  stamp(): string {
    try {
      const s = statSync(this.path, { bigint: true });
      return `${s.ino}:${s.size}:${s.mtimeNs}`;
    } catch {
      return "missing";
    }
  }

  #load(): { keys: SubscriptionKeys; file: SubscriptionFile | undefined } {
    const stamp = this.stamp();
    if (this.#cache?.stamp === stamp) return this.#cache;
    let entry: { stamp: string; keys: SubscriptionKeys; file: SubscriptionFile | undefined } = { stamp, keys: NO_STORED_KEYS, file: undefined };
    if (stamp !== "missing") {
      const text = readFileSync(this.path, "utf8");
      const file = JSON.parse(text) as SubscriptionFile;
      if (file?.format !== 1 || typeof file.salt !== "string" || !/^[0-9a-f]{32,128}$/.test(file.salt) || typeof file.subscriptions !== "object") {
        throw new Error(`${this.path}: not a Portico subscription key file`);
      }
      const byName = new Map<string, StoredSubscription>();
      for (const [name, stored] of Object.entries(file.subscriptions)) byName.set(name, stored);
      entry = { stamp, keys: { salt: file.salt, byName, fingerprint: contentHash(text) }, file };
    }
    this.#cache = entry;
    return entry;
  }

  /** The stored salt and keys, re-read only when the file changed. */
  read(): SubscriptionKeys {
    return this.#load().keys;
  }

  /** The data directory's salt, made (and the file with it) on first use. */
  salt(): string {
    const existing = this.read().salt;
    if (existing !== undefined) return existing;
    const fresh: SubscriptionFile = { format: 1, salt: randomBytes(SALT_BYTES).toString("hex"), subscriptions: {} };
    createExclusive(this.path, `${JSON.stringify(fresh, null, 2)}\n`);
    this.#cache = undefined;
    return this.read().salt!;
  }

  #write(file: SubscriptionFile): void {
    writeFileAtomic(this.path, `${JSON.stringify(file, null, 2)}\n`);
    this.#cache = undefined;
  }

  #file(): SubscriptionFile {
    this.salt();
    return structuredClone(this.#load().file!);
  }

  /** Makes both keys of a subscription and returns them (the only time they exist outside a client); refused when it has keys already. */
  create(name: string, now = new Date()): Record<SubscriptionKeySlot, string> {
    const file = this.#file();
    if (Object.hasOwn(file.subscriptions, name)) {
      throw new Error(
        `subscription "${name}" has stored keys already (replace one with portico subscription regenerate --name ${name} --key primary|secondary)`,
      );
    }
    const keys = { primary: generateSubscriptionKey(), secondary: generateSubscriptionKey() };
    file.subscriptions[name] = {
      primary: { hash: hashSubscriptionKey(keys.primary, file.salt), created: now.toISOString() },
      secondary: { hash: hashSubscriptionKey(keys.secondary, file.salt), created: now.toISOString() },
    };
    this.#write(file);
    return keys;
  }

  /**
   * Replaces one key of a subscription and returns the new key; the old one stops passing at the
   * next sync. A subscription without stored keys gets this one key stored only when `known` (it is
   * in the desired configuration, whose key for this slot the stored one then replaces), so a
   * mistyped name is refused rather than given a key nobody uses.
   */
  regenerate(name: string, slot: SubscriptionKeySlot, known = false, now = new Date()): string {
    const file = this.#file();
    let stored = Object.hasOwn(file.subscriptions, name) ? file.subscriptions[name] : undefined;
    if (!stored && !known) {
      throw new Error(
        `subscription "${name}" has no stored keys and the desired configuration has no subscription of that name (make keys with portico subscription create --name ${name})`,
      );
    }
    stored ??= file.subscriptions[name] = {};
    const key = generateSubscriptionKey();
    stored[slot] = { hash: hashSubscriptionKey(key, file.salt), created: now.toISOString() };
    this.#write(file);
    return key;
  }
}

/**
 * Creates a file that must not exist yet, atomically: its bytes go to a temporary file of this
 * process (owner-only, synced), which is then linked to its name. The link fails when another
 * process made the file first, and that file is kept: a file made this way is never replaced.
 */
function createExclusive(path: string, text: string): void {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.new`;
  writeFileAtomic(temp, text);
  try {
    linkSync(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    unlinkSync(temp);
  }
}
