/**
 * Signing keys of validate-jwt as JSON Web Keys (RFC 7517): the one form the gateway keeps them in,
 * whether they were written inline (a JWK, a PEM public key or certificate, a symmetric `value`) or
 * fetched from a JWKS. Each key carries the algorithms it may verify, derived from its type (RSA →
 * RS* and PS*, EC → the ES* of its curve, oct → the HS* its length allows), narrowed by its own `alg`:
 * that list is the allow-list a token's `alg` must be on, so `none` and HS/RS confusion cannot pass.
 * Used by the configuration's validation (inline keys) and by the gateway (JWKS keys, through
 * config/snapshot/build.ts).
 */
import { createPublicKey, type JsonWebKey as NodeJwk, X509Certificate } from "node:crypto";

/** A public or symmetric key as validate-jwt keeps it: the JWK members it needs. */
export interface SigningJwk {
  readonly kty: "RSA" | "EC" | "oct";
  readonly kid?: string;
  /** The algorithms this key may verify (never empty). */
  readonly algs: readonly string[];
  // RSA
  readonly n?: string;
  readonly e?: string;
  // EC
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  // oct (base64url)
  readonly k?: string;
}

/** The ES algorithm of each curve (RFC 7518 §3.4). */
const CURVE_ALG: Readonly<Record<string, string>> = { "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" };

/** Every algorithm validate-jwt verifies. */
export const JWT_ALGORITHMS: ReadonlySet<string> = new Set([
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "HS256",
  "HS384",
  "HS512",
]);

/** Shortest RSA modulus accepted, in bits (RFC 7518 §3.3 asks for 2048). */
const MIN_RSA_BITS = 2048;

/** A key, or why it cannot be used (the reason never quotes key material). */
export type JwkResult = { ok: true; key: SigningJwk } | { ok: false; reason: string };

/** The algorithms a key's type allows, before its own `alg` narrows them. */
function typeAlgorithms(kty: string, crv: string | undefined, octBytes: number): string[] {
  if (kty === "RSA") return ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
  if (kty === "EC") return crv && CURVE_ALG[crv] ? [CURVE_ALG[crv]!] : [];
  // RFC 7518 §3.2: an HMAC key at least as long as the hash output.
  if (kty === "oct") return [["HS256", 32], ["HS384", 48], ["HS512", 64]].filter(([, bytes]) => octBytes >= (bytes as number)).map(([alg]) => alg as string);
  return [];
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Checks a JWK and keeps its verification members. Public keys only (a JWK with private members is
 * refused: the gateway never needs them), `use` must be `sig` when present, `alg` must fit the key.
 */
export function signingJwk(input: unknown): JwkResult {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return { ok: false, reason: "a JWK must be a map" };
  const jwk = input as Record<string, unknown>;
  const kty = jwk.kty;
  if (kty !== "RSA" && kty !== "EC" && kty !== "oct") return { ok: false, reason: `key type ${JSON.stringify(kty)} is not supported (RSA, EC or oct)` };
  if (jwk.use !== undefined && jwk.use !== "sig") return { ok: false, reason: `the key is for use ${JSON.stringify(jwk.use)}, not sig` };
  if (jwk.kid !== undefined && (typeof jwk.kid !== "string" || jwk.kid.length === 0)) return { ok: false, reason: "kid must be a non-empty string" };
  if (kty !== "oct" && ["d", "p", "q", "dp", "dq", "qi"].some((m) => jwk[m] !== undefined)) {
    return { ok: false, reason: "the JWK holds private key material; give the public key only" };
  }
  let octBytes = 0;
  let members: Pick<SigningJwk, "n" | "e" | "crv" | "x" | "y" | "k">;
  if (kty === "oct") {
    if (typeof jwk.k !== "string" || !BASE64URL.test(jwk.k)) return { ok: false, reason: "a symmetric JWK needs k, base64url" };
    octBytes = Buffer.from(jwk.k, "base64url").length;
    members = { k: jwk.k };
  } else {
    try {
      const key = createPublicKey({ key: jwk as NodeJwk, format: "jwk" });
      const exported = key.export({ format: "jwk" });
      if (kty === "RSA") {
        const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
        if (bits < MIN_RSA_BITS) return { ok: false, reason: `the RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required` };
        members = { n: exported.n, e: exported.e };
      } else {
        members = { crv: exported.crv, x: exported.x, y: exported.y };
      }
    } catch {
      return { ok: false, reason: `not a valid ${kty} public key` };
    }
  }
  let algs = typeAlgorithms(kty, members.crv, octBytes);
  if (algs.length === 0) {
    return {
      ok: false,
      reason: kty === "oct" ? `a symmetric key needs at least 32 bytes, not ${octBytes}` : `curve ${JSON.stringify(members.crv)} is not supported`,
    };
  }
  if (jwk.alg !== undefined) {
    if (typeof jwk.alg !== "string" || !algs.includes(jwk.alg)) {
      return { ok: false, reason: `alg ${JSON.stringify(jwk.alg)} does not fit this key (it allows ${algs.join(", ")})` };
    }
    algs = [jwk.alg];
  }
  const kid = typeof jwk.kid === "string" ? jwk.kid : undefined;
  return { ok: true, key: { kty, ...(kid === undefined ? {} : { kid }), algs, ...members } };
}

const PEM_BLOCK = /^-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+-----END \1-----\s*$/;

/** A PEM public key (SPKI or PKCS#1) or X.509 certificate as a signing key; private keys are refused. */
export function pemJwk(pem: string, kid?: string): JwkResult {
  const label = PEM_BLOCK.exec(pem.trim())?.[1];
  if (!label) return { ok: false, reason: "expected one PEM block (-----BEGIN PUBLIC KEY----- or -----BEGIN CERTIFICATE-----)" };
  if (label !== "PUBLIC KEY" && label !== "RSA PUBLIC KEY" && label !== "CERTIFICATE") {
    return { ok: false, reason: `a ${label} cannot be a signing key here; give a PUBLIC KEY or a CERTIFICATE` };
  }
  let jwk: NodeJwk;
  try {
    const key = label === "CERTIFICATE" ? new X509Certificate(pem).publicKey : createPublicKey(pem);
    jwk = key.export({ format: "jwk" });
  } catch {
    return { ok: false, reason: `the ${label} does not parse` };
  }
  return signingJwk(kid === undefined ? jwk : { ...jwk, kid });
}

/** A symmetric key given as base64 (APIM's `<key>` element), for HS256, HS384 or HS512. */
export function symmetricJwk(base64: string, kid?: string): JwkResult {
  const text = base64.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return { ok: false, reason: "value must be base64 (APIM's symmetric key form)" };
  const k = Buffer.from(text.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""), "base64url").toString("base64url");
  return signingJwk(kid === undefined ? { kty: "oct", k } : { kty: "oct", k, kid });
}
