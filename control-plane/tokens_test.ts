import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { bareToken, CLOCK_SKEW_MS, createToken, type GatewayKeys, readClaims, type SigningKey, verifyToken } from "./tokens.ts";

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const key = (generation = 1): SigningKey => ({ secret: randomBytes(32), generation });

describe("gateway tokens", () => {
  const primary = key();
  const secondary = key();
  const keys: GatewayKeys = { current: { primary, secondary }, retired: [] };
  const lookup = (gateway: string) => (gateway === "edge-1" ? keys : undefined);
  const make = (expires = NOW + 3_600_000, signing = primary, claims: Partial<{ gateway: string; key: "primary" | "secondary"; generation: number }> = {}) =>
    createToken({ gateway: "edge-1", key: "primary", generation: signing.generation, expires, ...claims }, signing);

  it("round-trips its claims, with or without the GatewayKey scheme", () => {
    const token = make();
    assert.match(token, /^edge-1&primary&1&\d+&[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(readClaims(`GatewayKey ${token}`), { gateway: "edge-1", key: "primary", generation: 1, expires: NOW + 3_600_000 });
    assert.equal(bareToken(`  gatewaykey   ${token} `), token);
    const check = verifyToken(`GatewayKey ${token}`, lookup, NOW);
    assert.ok(check.ok);
    assert.equal(check.claims.gateway, "edge-1");
  });

  it("accepts a token signed by either key", () => {
    assert.ok(verifyToken(make(undefined, secondary, { key: "secondary" }), lookup, NOW).ok);
  });

  it("says why it refuses a token", () => {
    const reason = (header: string | undefined) => {
      const check = verifyToken(header, lookup, NOW);
      return check.ok ? "accepted" : check.reason;
    };
    assert.equal(reason(undefined), "missing");
    assert.equal(reason("   "), "missing");
    assert.equal(reason("edge-1&primary&1&notanumber&sig"), "malformed");
    assert.equal(reason("edge-1&owner&1&1&" + "A".repeat(43)), "malformed");
    assert.equal(reason(make(undefined, primary, { gateway: "ghost" })), "bad signature", "a gateway without keys");
    assert.equal(reason(make(undefined, key())), "bad signature", "signed by another secret");
    assert.equal(reason(make(undefined, secondary, { key: "primary", generation: 1 })), "bad signature", "the other key's secret");
    const token = make();
    assert.equal(reason(token.replace("&primary&", "&secondary&")), "bad signature", "claims edited after signing");
    assert.equal(reason(make(NOW - CLOCK_SKEW_MS - 1)), "expired");
  });

  it("answers a token for a gateway without keys as it answers a forged one, and gives the difference only as the cause", () => {
    const unknown = verifyToken(make(undefined, primary, { gateway: "ghost" }), lookup, NOW);
    const forged = verifyToken(make(undefined, key()), lookup, NOW);
    assert.ok(!unknown.ok && !forged.ok);
    assert.equal(unknown.reason, forged.reason);
    assert.equal(unknown.reason, "bad signature");
    assert.equal(unknown.cause, "unknown gateway");
    assert.equal(forged.cause, "bad signature");
    // An expired token is only said to be expired once its signature holds: a forged one is "bad signature".
    assert.equal((verifyToken(make(NOW - 60_000, key()), lookup, NOW) as { reason: string }).reason, "bad signature");
    assert.equal((verifyToken(make(NOW - 60_000, primary, { gateway: "ghost" }), lookup, NOW) as { reason: string }).reason, "bad signature");
  });

  it("tolerates a few seconds of clock skew, never more", () => {
    assert.ok(verifyToken(make(NOW - CLOCK_SKEW_MS + 1000), lookup, NOW).ok);
    assert.equal((verifyToken(make(NOW - CLOCK_SKEW_MS - 1000), lookup, NOW) as { reason: string }).reason, "expired");
  });

  it("tells a token of a regenerated key apart from a forged one", () => {
    const old = key(1);
    const rotated: GatewayKeys = { current: { primary: key(2), secondary }, retired: [{ ...old, key: "primary" }] };
    const check = verifyToken(make(undefined, old), () => rotated, NOW);
    assert.deepEqual(check.ok ? "accepted" : check.reason, "key rotated");
    const forged = verifyToken(make(undefined, key(1)), () => rotated, NOW);
    assert.deepEqual(forged.ok ? "accepted" : forged.reason, "bad signature");
  });
});
