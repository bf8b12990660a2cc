/**
 * What validate-jwt checks in one token, done by jose's `jwtVerify`: the compact serialisation, the
 * header (`crit` extensions jose does not know refuse the token), the algorithm against an explicit
 * allow-list (the union of the keys' own lists, so `alg: none` and HS/RS confusion never reach a
 * key), the signature with the key the header names (looked up here, among keys whose own list
 * holds the algorithm), then the claims: exp (required when `require-expiration-time`) and nbf with
 * the clock skew, issuer, audience. APIM's `required-claims` are checked on the verified payload
 * (claims.ts). jose's refusals are mapped to the reasons the metric counts.
 *
 * Cost: jose verifies through WebCrypto. On Bun, bench/jwt.ts measured a fresh RS256 token at about
 * 95-110 µs over a request without the policy (jose's jwtVerify alone about 65 µs), ES256 about
 * 155 µs, on a loaded 2-core machine: above the 60 µs target. A repeated token skips all of this
 * (cache.ts: 2-3 µs).
 */
import { decodeProtectedHeader, errors, type JWTHeaderParameters, type JWTPayload, jwtVerify, type JWTVerifyOptions } from "jose";
import { JWT_ALGORITHMS } from "../../../config/snapshot/build.ts";
import { type RequiredClaim, unmetClaim } from "./claims.ts";
import type { KeySet, VerifyKey } from "./keys.ts";

/** Why a token was refused, as the metric `portico_jwt_validation_failures_total{reason}` labels it. */
export type Refusal =
  | "missing"
  | "too-large"
  | "malformed"
  | "algorithm"
  | "unknown-key"
  | "signature"
  | "expired"
  | "not-yet-valid"
  | "no-expiration"
  | "issuer"
  | "audience"
  | "claim"
  | "keys-unavailable";

/** Every refusal reason, in a stable order (for metrics). */
export const REFUSALS: readonly Refusal[] = [
  "missing",
  "too-large",
  "malformed",
  "algorithm",
  "unknown-key",
  "signature",
  "expired",
  "not-yet-valid",
  "no-expiration",
  "issuer",
  "audience",
  "claim",
  "keys-unavailable",
];

/** Longest token accepted, in characters (8 KiB): a larger one is refused before it is decoded. */
export const MAX_TOKEN_LENGTH = 8 * 1024;

/** Most keys one token is tried against (a token without kid, several keys allowing its alg). */
const MAX_CANDIDATES = 8;

/** The claim checks of one validate-jwt use. */
export interface ClaimRules {
  readonly requireExpiration: boolean;
  /** Clock skew allowed on exp and nbf, in seconds. */
  readonly skewSeconds: number;
  /** Accepted audiences (any of them); undefined: not checked. */
  readonly audiences: readonly string[] | undefined;
  readonly required: readonly RequiredClaim[];
}

/**
 * What verifying gave: the verified payload, a refusal, or no key to verify with (the header's alg
 * is on no key's list, or no key with its kid allows it), with the kid the header names so the
 * caller can tell an unknown kid (a fetch may bring it) from a wrong algorithm.
 */
export type Verification =
  | { readonly payload: JWTPayload }
  | { readonly refusal: Refusal }
  | { readonly unmatched: { readonly kid: string | undefined } };

/** A refusal reason for an error jwtVerify (or the key lookup) threw; anything unexpected counts as malformed. */
export function refusalOf(error: unknown): Refusal {
  if (!(error instanceof errors.JOSEError)) return "malformed";
  switch (error.code) {
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "signature";
    case "ERR_JWT_EXPIRED":
      return "expired";
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return "algorithm";
    case "ERR_JWKS_NO_MATCHING_KEY":
      return "unknown-key";
    case "ERR_JWT_CLAIM_VALIDATION_FAILED": {
      const { claim, reason } = error as errors.JWTClaimValidationFailed;
      // A registered claim of the wrong type ("exp": "soon") makes the token malformed.
      if (reason === "invalid") return "malformed";
      if (claim === "exp") return "no-expiration";
      if (claim === "nbf") return "not-yet-valid";
      if (claim === "iss") return "issuer";
      if (claim === "aud") return "audience";
      return "claim";
    }
    // ERR_JWS_INVALID, ERR_JWT_INVALID (shape, header, payload not a JSON object), and
    // ERR_JOSE_NOT_SUPPORTED (a `crit` extension jose does not know).
    default:
      return "malformed";
  }
}

/** The alg and kid a token's header names (jose's decoder), undefined when the header does not decode. */
function headerOf(token: string): { alg: unknown; kid: unknown } | undefined {
  try {
    const { alg, kid } = decodeProtectedHeader(token);
    return { alg, kid };
  } catch {
    return undefined;
  }
}

/**
 * Verifies tokens against a fixed list of key sets and rules: built again by the step whenever
 * the key sets change, so the allow-list and jwtVerify's options are computed once per key set.
 */
export class TokenVerifier {
  readonly #sets: readonly KeySet[];
  readonly #options: JWTVerifyOptions;
  readonly #required: readonly RequiredClaim[];

  /** `issuers`: the accepted issuers (any of them); undefined: not checked. */
  constructor(sets: readonly KeySet[], rules: ClaimRules, issuers: readonly string[] | undefined) {
    this.#sets = sets;
    this.#required = rules.required;
    const algorithms = new Set<string>();
    for (const set of sets) for (const alg of set.algorithms) algorithms.add(alg);
    this.#options = {
      algorithms: [...algorithms],
      clockTolerance: rules.skewSeconds,
      ...(rules.requireExpiration ? { requiredClaims: ["exp"] } : {}),
      ...(issuers ? { issuer: [...issuers] } : {}),
      ...(rules.audiences ? { audience: [...rules.audiences] } : {}),
    };
  }

  /** Whether any key set has a key with this kid. */
  knows(kid: string): boolean {
    return this.#sets.some((set) => set.hasKid(kid));
  }

  /** The keys a header may name, across the sets. */
  #candidates(alg: string, kid: string | undefined): VerifyKey[] {
    const out: VerifyKey[] = [];
    for (const set of this.#sets) out.push(...set.candidates(alg, kid));
    return out;
  }

  /** Verifies one token at `now` (ms since the epoch). */
  async verify(token: string, now: number): Promise<Verification> {
    let candidates: VerifyKey[] | undefined;
    let index = 0;
    let kid: string | undefined;
    // jose calls this after checking the header and the alg against the allow-list.
    const getKey = (header: JWTHeaderParameters): CryptoKey => {
      if (header.kid !== undefined && typeof header.kid !== "string") throw new errors.JWSInvalid('"kid" must be a string');
      if (!candidates) {
        kid = header.kid;
        candidates = this.#candidates(header.alg, kid);
      }
      const key = candidates[index]?.forAlg(header.alg);
      if (!key) throw new errors.JWKSNoMatchingKey();
      return key;
    };
    const options = { ...this.#options, currentDate: new Date(now) };
    for (;;) {
      try {
        const { payload } = await jwtVerify(token, getKey, options);
        if (this.#required.length && unmetClaim(payload, this.#required)) return { refusal: "claim" };
        return { payload };
      } catch (error) {
        const code = error instanceof errors.JOSEError ? error.code : undefined;
        if (code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" && candidates && index + 1 < Math.min(candidates.length, MAX_CANDIDATES)) {
          index += 1;
          continue;
        }
        if (code === "ERR_JWKS_NO_MATCHING_KEY") return { unmatched: { kid } };
        if (code === "ERR_JOSE_ALG_NOT_ALLOWED") {
          // No key allows this alg. One no key could ever allow (none, an unsupported one) is refused
          // as it is; for the others, the kid decides whether fetching keys again may help.
          const header = headerOf(token);
          if (!header || typeof header.alg !== "string" || !JWT_ALGORITHMS.has(header.alg)) return { refusal: "algorithm" };
          if (header.kid !== undefined && typeof header.kid !== "string") return { refusal: "malformed" };
          return { unmatched: { kid: header.kid } };
        }
        return { refusal: refusalOf(error) };
      }
    }
  }
}
