/**
 * What validate-jwt checks in one token (JWS compact serialisation, RFC 7515/7519): its shape, its
 * algorithm against the allow-list of the key it names, its signature, then its claims (lifetime with
 * the clock skew, issuer, audience, required claims). Synchronous: the keys are ready before a
 * token is looked at (jwks.ts), and signatures are checked with node:crypto's one-shot `verify`
 * (RS256 about 20-25 µs on Bun on a quiet machine, where jose's jwtVerify, on WebCrypto, took 70-110 µs in the
 * same runs; bench/jwt.ts prints both).
 */
import { constants, createHmac, type KeyObject, timingSafeEqual, verify } from "node:crypto";
import { JWT_ALGORITHMS } from "../../../config/snapshot/build.ts";
import { type RequiredClaim, unmetClaim } from "./claims.ts";
import type { VerifyKey } from "./keys.ts";

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

/** A token split and decoded, not yet verified. */
export interface ParsedToken {
  readonly alg: string;
  readonly kid: string | undefined;
  readonly payload: Readonly<Record<string, unknown>>;
  /** The payload's JSON text as the token carries it. */
  readonly payloadJson: string;
  /** `header.payload`, what the signature covers. */
  readonly signingInput: string;
  readonly signature: Buffer;
}

const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function decodeJson(part: string): { value: unknown; text: string } | undefined {
  const text = Buffer.from(part, "base64url").toString("utf8");
  try {
    return { value: JSON.parse(text), text };
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Splits and decodes a token: three base64url parts (an empty signature, as `alg: none` has, is not
 * a JWS here), a header naming a supported `alg` and no `crit` extension, a JSON object payload.
 */
export function parseToken(token: string): ParsedToken | Refusal {
  if (token.length > MAX_TOKEN_LENGTH) return "too-large";
  if (!COMPACT.test(token)) return "malformed";
  const first = token.indexOf(".");
  const second = token.indexOf(".", first + 1);
  const header = decodeJson(token.slice(0, first));
  if (!header || !isObject(header.value)) return "malformed";
  const { alg, kid, crit } = header.value;
  if (typeof alg !== "string" || !JWT_ALGORITHMS.has(alg)) return "algorithm";
  // RFC 7515 §4.1.11: extensions this implementation does not know must make it refuse the token.
  if (crit !== undefined) return "malformed";
  if (kid !== undefined && typeof kid !== "string") return "malformed";
  const payload = decodeJson(token.slice(first + 1, second));
  if (!payload || !isObject(payload.value)) return "malformed";
  return {
    alg,
    kid,
    payload: payload.value,
    payloadJson: payload.text,
    signingInput: token.slice(0, second),
    signature: Buffer.from(token.slice(second + 1), "base64url"),
  };
}

/** ECDSA signature length (r || s) per curve's algorithm (RFC 7518 §3.4). */
const ES_SIGNATURE_BYTES: Readonly<Record<string, number>> = { ES256: 64, ES384: 96, ES512: 132 };

/**
 * Checks a signature with a key whose allow-list holds `alg` (the caller picks such keys; this
 * checks again, and checks the key's kind, so a public key is never used as an HMAC secret).
 */
export function verifySignature(alg: string, key: VerifyKey, signingInput: string, signature: Buffer): boolean {
  if (!key.algs.has(alg)) return false;
  const hash = `sha${alg.slice(2)}`;
  const data = Buffer.from(signingInput, "latin1");
  const material = key.material;
  if (alg.startsWith("HS")) {
    if (!Buffer.isBuffer(material)) return false;
    const expected = createHmac(hash, material).update(data).digest();
    return expected.length === signature.length && timingSafeEqual(expected, signature);
  }
  if (Buffer.isBuffer(material)) return false;
  const asymmetric = material as KeyObject;
  try {
    if (alg.startsWith("RS")) return asymmetric.asymmetricKeyType === "rsa" && verify(hash, data, asymmetric, signature);
    if (alg.startsWith("PS")) {
      return asymmetric.asymmetricKeyType === "rsa" &&
        verify(hash, data, { key: asymmetric, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 }, signature);
    }
    if (alg.startsWith("ES")) {
      return asymmetric.asymmetricKeyType === "ec" && signature.length === ES_SIGNATURE_BYTES[alg] &&
        verify(hash, data, { key: asymmetric, dsaEncoding: "ieee-p1363" }, signature);
    }
  } catch {
    // A signature the crypto library cannot even read is a wrong signature.
    return false;
  }
  return false;
}

/** The claim checks of one validate-jwt use. */
export interface ClaimRules {
  readonly requireExpiration: boolean;
  /** Clock skew allowed on exp and nbf, in seconds. */
  readonly skewSeconds: number;
  /** Accepted audiences (any of them); undefined: not checked. */
  readonly audiences: ReadonlySet<string> | undefined;
  readonly required: readonly RequiredClaim[];
}

/** The first claim check a verified payload fails (issuers given separately: they may come from discovery), or undefined. */
export function checkClaims(
  payload: Readonly<Record<string, unknown>>,
  rules: ClaimRules,
  issuers: ReadonlySet<string> | undefined,
  nowSeconds: number,
): Refusal | undefined {
  const { exp, nbf, iss, aud } = payload;
  if (exp !== undefined) {
    if (typeof exp !== "number" || !Number.isFinite(exp)) return "malformed";
    if (nowSeconds - rules.skewSeconds >= exp) return "expired";
  } else if (rules.requireExpiration) return "no-expiration";
  if (nbf !== undefined) {
    if (typeof nbf !== "number" || !Number.isFinite(nbf)) return "malformed";
    if (nbf > nowSeconds + rules.skewSeconds) return "not-yet-valid";
  }
  if (issuers && !(typeof iss === "string" && issuers.has(iss))) return "issuer";
  if (rules.audiences) {
    const list = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
    if (!list.some((a) => typeof a === "string" && rules.audiences!.has(a))) return "audience";
  }
  if (rules.required.length && unmetClaim(payload, rules.required)) return "claim";
  return undefined;
}
