/**
 * Verification keys of validate-jwt: each configured or fetched JWK imported with jose once per
 * algorithm on its allow-list (a WebCrypto key bound to that algorithm), when the key set arrives,
 * never per request; and the lookup a token's header is matched against. A key is only ever used
 * with an algorithm on its own list, so an RSA public key is never taken as an HMAC secret and
 * `alg: none` matches nothing.
 */
import { importJWK, type JWK } from "jose";
import type { SigningJwk } from "../../../config/snapshot/build.ts";

/** A key ready to verify signatures: one imported key per algorithm it allows. */
export class VerifyKey {
  private constructor(
    readonly kid: string | undefined,
    readonly byAlg: ReadonlyMap<string, CryptoKey>,
  ) {}

  /**
   * Imports a checked JWK for each algorithm it allows. jose's `importJWK` gives a CryptoKey for RSA
   * and EC; for an `oct` key it gives the secret's bytes, which jose would import into WebCrypto
   * again on every verification, so the bytes are imported here once as an HMAC verify key.
   */
  static async import(jwk: SigningJwk): Promise<VerifyKey> {
    const members: JWK = jwk.kty === "RSA"
      ? { kty: "RSA", n: jwk.n, e: jwk.e }
      : jwk.kty === "EC"
      ? { kty: "EC", crv: jwk.crv, x: jwk.x, y: jwk.y }
      : { kty: "oct", k: jwk.k };
    const byAlg = new Map<string, CryptoKey>();
    for (const alg of jwk.algs) {
      const imported = await importJWK(members, alg);
      byAlg.set(
        alg,
        imported instanceof Uint8Array
          ? await crypto.subtle.importKey("raw", imported as Uint8Array<ArrayBuffer>, { name: "HMAC", hash: `SHA-${alg.slice(2)}` }, false, ["verify"])
          : imported,
      );
    }
    return new VerifyKey(jwk.kid, byAlg);
  }

  /** The imported key for `alg`, undefined when `alg` is not on this key's allow-list. */
  forAlg(alg: string): CryptoKey | undefined {
    return this.byAlg.get(alg);
  }
}

/** Keys by kid, and every key, for the lookups a token's header asks for. */
export class KeySet {
  readonly #byKid = new Map<string, VerifyKey[]>();
  /** The union of every key's algorithms: jose refuses a token whose `alg` is not here before any lookup. */
  readonly algorithms: readonly string[];

  constructor(readonly keys: readonly VerifyKey[]) {
    const algs = new Set<string>();
    for (const key of keys) {
      for (const alg of key.byAlg.keys()) algs.add(alg);
      if (key.kid === undefined) continue;
      const list = this.#byKid.get(key.kid);
      if (list) list.push(key);
      else this.#byKid.set(key.kid, [key]);
    }
    this.algorithms = [...algs];
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
    for (const key of pool) if (key.byAlg.has(alg)) out.push(key);
    return out;
  }
}

/** Imports checked JWKs into a key set; a key that does not import is left out and counted. */
export async function importKeys(jwks: readonly SigningJwk[]): Promise<{ keys: KeySet; failed: number }> {
  const settled = await Promise.allSettled(jwks.map((jwk) => VerifyKey.import(jwk)));
  const keys: VerifyKey[] = [];
  for (const result of settled) if (result.status === "fulfilled") keys.push(result.value);
  return { keys: new KeySet(keys), failed: settled.length - keys.length };
}
