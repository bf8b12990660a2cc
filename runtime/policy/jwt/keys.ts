/**
 * Verification keys of validate-jwt: each configured or fetched JWK made ready once (a node:crypto
 * KeyObject, or the secret bytes of an HMAC key) with the algorithms it may verify, and the lookup a
 * token's header is matched against. A key is only ever used with an algorithm on its own list, so
 * an RSA public key is never taken as an HMAC secret and `alg: none` matches nothing.
 */
import { createPublicKey, type JsonWebKey as NodeJwk, type KeyObject } from "node:crypto";
import type { SigningJwk } from "../../../config/snapshot/build.ts";

/** A key ready to verify signatures. */
export interface VerifyKey {
  readonly kid: string | undefined;
  /** The algorithms it may verify (its allow-list). */
  readonly algs: ReadonlySet<string>;
  /** The public key (RSA, EC), or the secret (oct). */
  readonly material: KeyObject | Buffer;
}

/** Makes a checked JWK ready to verify (once, when the key arrives, never per request). */
export function verifyKey(jwk: SigningJwk): VerifyKey {
  const material = jwk.kty === "oct"
    ? Buffer.from(jwk.k!, "base64url")
    : createPublicKey({ key: { kty: jwk.kty, n: jwk.n, e: jwk.e, crv: jwk.crv, x: jwk.x, y: jwk.y } as NodeJwk, format: "jwk" });
  return { kid: jwk.kid, algs: new Set(jwk.algs), material };
}

/** Keys by kid, and every key, for the lookups a token's header asks for. */
export class KeySet {
  readonly #byKid = new Map<string, VerifyKey[]>();
  /** The union of every key's algorithms: a token whose `alg` is not here is refused before any lookup. */
  readonly algorithms: ReadonlySet<string>;

  constructor(readonly keys: readonly VerifyKey[]) {
    const algs = new Set<string>();
    for (const key of keys) {
      for (const alg of key.algs) algs.add(alg);
      if (key.kid === undefined) continue;
      const list = this.#byKid.get(key.kid);
      if (list) list.push(key);
      else this.#byKid.set(key.kid, [key]);
    }
    this.algorithms = algs;
  }

  /** Whether a key has this kid. */
  hasKid(kid: string): boolean {
    return this.#byKid.has(kid);
  }

  /**
   * The keys a token may have been signed with: those with its kid (when it names one), else every
   * key; in both cases only keys whose allow-list holds its alg.
   */
  candidates(alg: string, kid: string | undefined): VerifyKey[] {
    const pool = kid === undefined ? this.keys : (this.#byKid.get(kid) ?? []);
    const out: VerifyKey[] = [];
    for (const key of pool) if (key.algs.has(alg)) out.push(key);
    return out;
  }
}

/** An empty set (no keys yet). */
export const NO_KEYS = new KeySet([]);
