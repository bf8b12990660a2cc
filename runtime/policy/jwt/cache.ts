/**
 * Tokens validate-jwt has accepted, by the sha256 of the token (never the token itself), until they
 * expire: a repeated token costs a hash and a lookup instead of a signature check. An entry also
 * remembers the generation of the keys that verified it, so a key set that changes (rotation,
 * revocation) makes every token be verified again. Bounded by two generations of at most half the
 * size each: when the newer one fills up, the older one is dropped whole and the newer takes its
 * place (a hit in the older one moves the entry forward). Every operation is O(1): evicting one
 * entry at a time from the front of a Map costs about 10 µs per insert on Bun and Node once the
 * Map has seen many deletions, more than the signature check the cache saves.
 */
import * as crypto from "node:crypto";

/** What an accepted token gives the exchange, computed once. */
export interface Accepted {
  readonly claims: ReadonlyMap<string, string>;
  /** The payload's JSON (for `output-token-variable-name`). */
  readonly payloadJson: string;
  /** Until when (Date.now() ms) the token stays acceptable: its exp plus the clock skew. */
  readonly until: number;
  /** The key generation that verified it. */
  readonly generation: number;
}

/** Entries kept per validate-jwt use, at most. */
export const MAX_CACHED_TOKENS = 10_000;
/** How long a token without exp is trusted without another check (ms). */
export const NO_EXPIRY_TTL_MS = 5 * 60_000;

/** node:crypto's one-shot `hash` (Node 20.12+, Bun, Deno): about 2 µs for a token where a Hash object costs 4 on Bun. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: "base64") => string }).hash;

/** The cache key of a token: its sha256, base64. */
export function tokenHash(token: string): string {
  return oneShot ? oneShot("sha256", token, "base64") : crypto.createHash("sha256").update(token).digest("base64");
}

/** Accepted tokens by hash (see the file's comment). */
export class VerifiedTokens {
  #newer = new Map<string, Accepted>();
  #older = new Map<string, Accepted>();
  readonly #half: number;

  constructor(max = MAX_CACHED_TOKENS) {
    this.#half = Math.max(1, Math.floor(max / 2));
  }

  /** The entry of a hash if it is still good at `now` for keys of `generation`; a stale one is dropped. */
  get(hash: string, now: number, generation: number): Accepted | undefined {
    let entry = this.#newer.get(hash);
    if (!entry) {
      entry = this.#older.get(hash);
      if (!entry) return undefined;
      this.#older.delete(hash);
      if (entry.until > now && entry.generation === generation) this.set(hash, entry);
    }
    if (entry.until > now && entry.generation === generation) return entry;
    this.#newer.delete(hash);
    return undefined;
  }

  /** Remembers an accepted token; when the newer half is full, the older half is dropped. */
  set(hash: string, entry: Accepted): void {
    if (this.#newer.size >= this.#half && !this.#newer.has(hash)) {
      this.#older = this.#newer;
      this.#newer = new Map();
    }
    this.#newer.set(hash, entry);
  }

  /** Entries held (at most the size given). */
  get size(): number {
    return this.#newer.size + this.#older.size;
  }
}
