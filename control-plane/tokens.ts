import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** Which of a gateway's two keys signed a token. Two keys let an operator rotate one while the other keeps working. */
export type KeyId = "primary" | "secondary";

/** The key ids, in the order operators name them. */
export const KEY_IDS: readonly KeyId[] = ["primary", "secondary"];

/** Longest validity a token may have: the interface contract (docs/design/contract.md) caps it at 30 days. */
export const MAX_TOKEN_LIFETIME_MS = 30 * 86_400_000;

/** Clock difference tolerated between the control plane and the machine that made the token. */
export const CLOCK_SKEW_MS = 5_000;

/** One signing key of a gateway; `generation` goes up by one each time the key is regenerated. */
export interface SigningKey {
  readonly secret: Uint8Array;
  readonly generation: number;
}

/** What a token claims, readable by anyone holding it (the signature makes it trustworthy). */
export interface TokenClaims {
  readonly gateway: string;
  readonly key: KeyId;
  readonly generation: number;
  /** Expiry, in milliseconds since the epoch (whole seconds in the token). */
  readonly expires: number;
}

/**
 * Why a token was refused, as the 401 says it, so an operator can fix the right thing. It never
 * tells whether the gateway a token names exists: a token for a name without keys is a
 * `bad signature` like a forged one. The reasons that need a valid signature first (`key rotated`,
 * `expired`, `wrong gateway`) can only be learnt by someone who holds a real token.
 */
export type TokenRejection = "missing" | "malformed" | "bad signature" | "key rotated" | "expired" | "wrong gateway";

/** Why a token was refused, for the control plane's own log and admin view: also tells an unknown gateway from a forged signature. */
export type TokenRefusalCause = TokenRejection | "unknown gateway";

/** The keys a control plane knows for one gateway: current ones, and retired ones kept only to say "key rotated". */
export interface GatewayKeys {
  readonly current: Readonly<Record<KeyId, SigningKey>>;
  readonly retired: readonly (SigningKey & { readonly key: KeyId })[];
}

/** The result of checking a token: on refusal, the `reason` to answer with and the `cause` to log. */
export type TokenCheck = { ok: true; claims: TokenClaims } | { ok: false; reason: TokenRejection; cause: TokenRefusalCause; claims?: TokenClaims };

const SEPARATOR = "&";

function signature(secret: Uint8Array, payload: string): Buffer {
  return createHmac("sha256", secret).update(payload).digest();
}

function payloadOf(claims: TokenClaims): string {
  return [claims.gateway, claims.key, claims.generation, Math.floor(claims.expires / 1000)].join(SEPARATOR);
}

/**
 * Makes a gateway access token: `gateway&key&generation&expiry-seconds&signature`, the signature
 * being HMAC-SHA256 of the rest under the named key (base64url). The claims are in clear text so a
 * gateway can warn about its own expiry without holding the key.
 */
export function createToken(claims: TokenClaims, key: SigningKey): string {
  const payload = payloadOf(claims);
  return `${payload}${SEPARATOR}${signature(key.secret, payload).toString("base64url")}`;
}

/** Strips the optional `GatewayKey ` scheme that the `config.service.auth` setting and the header may carry. */
export function bareToken(value: string): string {
  const trimmed = value.trim();
  return /^gatewaykey\s/i.test(trimmed) ? trimmed.slice("GatewayKey".length).trim() : trimmed;
}

/** Reads a token's claims without checking its signature (for the gateway's own expiry warning); undefined if malformed. */
export function readClaims(token: string): TokenClaims | undefined {
  const parts = bareToken(token).split(SEPARATOR);
  if (parts.length !== 5) return undefined;
  const [gateway, key, generation, expires, sig] = parts as [string, string, string, string, string];
  if (!gateway || !(KEY_IDS as readonly string[]).includes(key) || !/^\d{1,9}$/.test(generation) || !/^\d{1,12}$/.test(expires)) return undefined;
  if (!/^[A-Za-z0-9_-]{43}$/.test(sig)) return undefined;
  return { gateway, key: key as KeyId, generation: Number(generation), expires: Number(expires) * 1000 };
}

function signedBy(token: string, key: SigningKey): boolean {
  const cut = token.lastIndexOf(SEPARATOR);
  const given = Buffer.from(token.slice(cut + 1), "base64url");
  const expected = signature(key.secret, token.slice(0, cut));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Stands in for the key of a gateway that has none, so refusing its token costs one HMAC like any other. */
const NO_KEY: SigningKey = { secret: randomBytes(32), generation: 0 };

function refused(reason: TokenRejection, claims?: TokenClaims, cause: TokenRefusalCause = reason): TokenCheck {
  return claims ? { ok: false, reason, cause, claims } : { ok: false, reason, cause };
}

/**
 * Checks a token against the keys of the gateway it names: signature first (constant-time), then
 * expiry with a few seconds of tolerance. A signature by a key that has since been regenerated is
 * told apart from a forged one, so the operator knows to issue a new token. A token naming a
 * gateway without keys gets the same answer as a forged one (`bad signature`, `cause` "unknown
 * gateway"), after the same work: one HMAC on every path past parsing, so neither the answer nor
 * its time tells an unauthenticated caller which gateway names exist.
 */
export function verifyToken(header: string | undefined, keysOf: (gateway: string) => GatewayKeys | undefined, now = Date.now()): TokenCheck {
  if (!header?.trim()) return refused("missing");
  const token = bareToken(header);
  const claims = readClaims(token);
  if (!claims) return refused("malformed");
  const keys = keysOf(claims.gateway);
  if (!keys) {
    signedBy(token, NO_KEY);
    return refused("bad signature", claims, "unknown gateway");
  }
  const current = keys.current[claims.key];
  if (current.generation !== claims.generation) {
    const retired = keys.retired.find((k) => k.key === claims.key && k.generation === claims.generation);
    return signedBy(token, retired ?? current) && retired ? refused("key rotated", claims) : refused("bad signature", claims);
  }
  if (!signedBy(token, current)) return refused("bad signature", claims);
  if (claims.expires + CLOCK_SKEW_MS < now) return refused("expired", claims);
  return { ok: true, claims };
}
