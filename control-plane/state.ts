import { randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../config/atomic-file.ts";
import { type GatewayKeys, KEY_IDS, type KeyId, type SigningKey } from "./tokens.ts";

/** How many regenerated keys per gateway are remembered (only to tell "key rotated" from "bad signature"). */
const RETIRED_KEPT = 8;

interface StoredKey {
  secret: string;
  generation: number;
  created: string;
}

interface StoredGateway {
  primary: StoredKey;
  secondary: StoredKey;
  retired: (StoredKey & { key: KeyId; retired: string })[];
}

interface KeyFile {
  format: 1;
  gateways: Record<string, StoredGateway>;
}

function newKey(generation: number): StoredKey {
  return { secret: randomBytes(32).toString("base64"), generation, created: new Date().toISOString() };
}

function signingKey(stored: StoredKey): SigningKey {
  return { secret: Buffer.from(stored.secret, "base64"), generation: stored.generation };
}

/**
 * The gateway keys of a control plane, in `DIR/state/keys.json` (owner-only). The CLI writes it
 * (`token create` makes a gateway's keys on first use, `key regenerate` replaces one); the running
 * control plane re-reads it when it changes, so a regenerated key takes effect without a restart.
 */
export class KeyStore {
  readonly path: string;
  #cache: { stamp: string; file: KeyFile } | undefined;

  constructor(stateDir: string) {
    this.path = join(stateDir, "keys.json");
  }

  #stamp(): string {
    try {
      const s = statSync(this.path, { bigint: true });
      return `${s.ino}:${s.size}:${s.mtimeNs}`;
    } catch {
      return "missing";
    }
  }

  #read(): KeyFile {
    const stamp = this.#stamp();
    if (this.#cache?.stamp === stamp) return this.#cache.file;
    let file: KeyFile = { format: 1, gateways: {} };
    if (stamp !== "missing") {
      const parsed = JSON.parse(readFileSync(this.path, "utf8")) as KeyFile;
      if (parsed.format !== 1 || typeof parsed.gateways !== "object") throw new Error(`${this.path}: not a Portico key file`);
      file = parsed;
    }
    this.#cache = { stamp, file };
    return file;
  }

  #write(file: KeyFile): void {
    writeFileAtomic(this.path, `${JSON.stringify(file, null, 2)}\n`);
    this.#cache = undefined;
  }

  /** The keys of a gateway, or undefined when no token was ever made for it. */
  keysOf(gateway: string): GatewayKeys | undefined {
    const stored = Object.hasOwn(this.#read().gateways, gateway) ? this.#read().gateways[gateway] : undefined;
    if (!stored) return undefined;
    return {
      current: { primary: signingKey(stored.primary), secondary: signingKey(stored.secondary) },
      retired: stored.retired.map((r) => ({ ...signingKey(r), key: r.key })),
    };
  }

  /** Names of the gateways that have keys. */
  gateways(): string[] {
    return Object.keys(this.#read().gateways).sort();
  }

  /** A gateway's current key, making both of its keys first if it has none. */
  ensure(gateway: string, key: KeyId): SigningKey {
    const file = this.#read();
    if (!Object.hasOwn(file.gateways, gateway)) {
      file.gateways[gateway] = { primary: newKey(1), secondary: newKey(1), retired: [] };
      this.#write(file);
    }
    return signingKey(file.gateways[gateway]![key]);
  }

  /** Replaces one key of a gateway; every token it signed is refused from now on. */
  regenerate(gateway: string, key: KeyId): SigningKey {
    const file = this.#read();
    const stored = file.gateways[gateway];
    if (!stored || !Object.hasOwn(file.gateways, gateway)) throw new Error(`gateway "${gateway}" has no keys yet (create a token for it first)`);
    const old = stored[key];
    stored.retired = [{ ...old, key, retired: new Date().toISOString() }, ...stored.retired].slice(0, RETIRED_KEPT);
    stored[key] = newKey(old.generation + 1);
    this.#write(file);
    return signingKey(stored[key]);
  }
}

/** Parses a key id given on the command line. */
export function parseKeyId(value: string): KeyId | undefined {
  return (KEY_IDS as readonly string[]).includes(value) ? (value as KeyId) : undefined;
}
