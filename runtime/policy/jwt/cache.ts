/**
 * Tokens validate-jwt has accepted, by the sha256 of the token (never the token itself), until they
 * expire: a repeated token costs a hash and a lookup instead of a signature check. An entry also
 * remembers the generation of the keys that verified it, so a key set that changes (rotation,
 * revocation) makes every token be verified again. Bounded: past its size the oldest entries go first.
 */
import { createHash } from "node:crypto";

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

/** The cache key of a token: its sha256, base64. */
export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("base64");
}

/** Accepted tokens by hash (see the file's comment). */
export class VerifiedTokens {
  readonly #entries = new Map<string, Accepted>();

  constructor(private readonly max = MAX_CACHED_TOKENS) {}

  /** The entry of a hash if it is still good at `now` for keys of `generation`; a stale one is dropped. */
  get(hash: string, now: number, generation: number): Accepted | undefined {
    const entry = this.#entries.get(hash);
    if (!entry) return undefined;
    if (entry.until > now && entry.generation === generation) return entry;
    this.#entries.delete(hash);
    return undefined;
  }

  /** Remembers an accepted token; the oldest entry goes when the cache is full. */
  set(hash: string, entry: Accepted): void {
    if (this.#entries.size >= this.max && !this.#entries.has(hash)) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(hash, entry);
  }

  get size(): number {
    return this.#entries.size;
  }
}
