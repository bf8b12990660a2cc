import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { builtinPolicyConfig } from "../../../config/schema/policies.ts";
import type { PolicyExchange } from "../abi.ts";
import { DEFAULT_HOST_CONTEXT } from "../host.ts";
import { claimText, unmetClaim } from "./claims.ts";
import { JwtStep } from "./step.ts";
import { importKeys } from "./keys.ts";
import { type ClaimRules, TokenVerifier } from "./verify.ts";

const rules = (over: Partial<ClaimRules> = {}): ClaimRules => ({ requireExpiration: true, skewSeconds: 0, audiences: undefined, required: [], ...over });

const SECRET = new Uint8Array(32).fill(7);
const hsKeys = () => importKeys([{ kty: "oct", kid: "hs", algs: ["HS256"], k: Buffer.from(SECRET).toString("base64url") }]).then((r) => r.keys);

/** An HS256 token with these claims (and this header), signed with SECRET. */
function hs256(claims: Record<string, unknown>, header: Record<string, unknown> = {}, crit?: Record<string, boolean>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid: "hs", ...header }).sign(SECRET, crit ? { crit } : undefined);
}

/** What verifying `claims` at `now` (seconds) gives: "ok", a refusal, or "unmatched". */
async function outcome(verifier: TokenVerifier, claims: Record<string, unknown>, now: number): Promise<string> {
  const result = await verifier.verify(await hs256(claims), now * 1000);
  return "payload" in result ? "ok" : "refusal" in result ? result.refusal : "unmatched";
}

describe("validate-jwt claim checks (jose's jwtVerify)", () => {
  it("applies the clock skew to exp and nbf, and requires exp when asked", async () => {
    const keys = await hsKeys();
    const now = 1_000_000;
    const plain = new TokenVerifier([keys], rules(), undefined);
    const skew30 = new TokenVerifier([keys], rules({ skewSeconds: 30 }), undefined);
    const skew10 = new TokenVerifier([keys], rules({ skewSeconds: 10 }), undefined);
    assert.equal(await outcome(plain, { exp: now }, now), "expired");
    assert.equal(await outcome(skew30, { exp: now - 29 }, now), "ok");
    assert.equal(await outcome(skew30, { exp: now - 30 }, now), "expired");
    assert.equal(await outcome(plain, { exp: now + 60, nbf: now + 10 }, now), "not-yet-valid");
    assert.equal(await outcome(skew10, { exp: now + 60, nbf: now + 10 }, now), "ok");
    assert.equal(await outcome(plain, {}, now), "no-expiration");
    assert.equal(await outcome(new TokenVerifier([keys], rules({ requireExpiration: false }), undefined), {}, now), "ok");
    assert.equal(await outcome(plain, { exp: "soon" }, now), "malformed");
  });

  it("checks issuers and audiences (any of them)", async () => {
    const v = new TokenVerifier([await hsKeys()], rules({ requireExpiration: false, audiences: ["a", "b"] }), ["i"]);
    assert.equal(await outcome(v, { aud: ["x", "b"], iss: "i" }, 0), "ok");
    assert.equal(await outcome(v, { aud: "c", iss: "i" }, 0), "audience");
    assert.equal(await outcome(v, { aud: "a", iss: "j" }, 0), "issuer");
    assert.equal(await outcome(v, { aud: "a" }, 0), "issuer");
  });

  it("checks APIM's required claims on the verified payload", async () => {
    const v = new TokenVerifier(
      [await hsKeys()],
      rules({ requireExpiration: false, required: [{ name: "roles", match: "any", values: ["admin"] }] }),
      undefined,
    );
    assert.equal(await outcome(v, { roles: ["reader", "admin"] }, 0), "ok");
    assert.equal(await outcome(v, { roles: ["reader"] }, 0), "claim");
  });

  it("refuses unknown crit extensions, alg none and algorithms no key allows; reports an unknown kid as unmatched", async () => {
    const keys = await hsKeys();
    const v = new TokenVerifier([keys], rules({ requireExpiration: false }), undefined);
    const refusal = async (token: string) => {
      const result = await v.verify(token, Date.now());
      return "refusal" in result ? result.refusal : "unmatched" in result ? `unmatched ${result.unmatched.kid}` : "ok";
    };
    assert.equal(await refusal(await hs256({}, { crit: ["x"], x: 1 }, { x: true })), "malformed");
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    assert.equal(await refusal(`${b64({ alg: "none" })}.${b64({ sub: "x" })}.`), "algorithm");
    assert.equal(await refusal(`${b64({ alg: "RS256", kid: "hs" })}.${b64({ sub: "x" })}.c2ln`), "unmatched hs");
    assert.equal(await refusal(await hs256({}, { kid: "other" })), "unmatched other");
    assert.equal(await refusal(await hs256({}, { kid: 5 })), "malformed");
    assert.equal(await refusal("not.a-token"), "malformed");
    const [h, p, s] = (await hs256({ sub: "alice" })).split(".");
    assert.equal(await refusal(`${h}.${p}.${s!.slice(0, -2)}AA`), "signature");
    assert.equal(await refusal(`${h}.${b64({ sub: "mallory" })}.${s}`), "signature");
  });

  it("matches required claims with all, any and a separator", () => {
    const payload = { roles: ["admin", "reader"], scp: "orders.read orders.write", tid: "t1", flag: true };
    const check = (claims: Parameters<typeof unmetClaim>[1]) => unmetClaim(payload, claims)?.name;
    assert.equal(check([{ name: "roles", match: "all", values: ["admin", "reader"] }]), undefined);
    assert.equal(check([{ name: "roles", match: "all", values: ["admin", "writer"] }]), "roles");
    assert.equal(check([{ name: "roles", match: "any", values: ["writer", "reader"] }]), undefined);
    assert.equal(check([{ name: "scp", match: "all", separator: " ", values: ["orders.write"] }]), undefined);
    assert.equal(check([{ name: "scp", match: "all", values: ["orders.write"] }]), "scp");
    assert.equal(check([{ name: "tid", match: "all", values: [] }, { name: "oid", match: "all", values: [] }]), "oid");
    assert.equal(check([{ name: "flag", match: "any", values: ["true"] }]), undefined);
  });

  it("turns claims into text as the contract says", () => {
    assert.equal(claimText("x"), "x");
    assert.equal(claimText(42), "42");
    assert.equal(claimText(false), "false");
    assert.equal(claimText(["a", 1, { b: 2 }]), 'a,1,{"b":2}');
    assert.equal(claimText({ a: [1] }), '{"a":[1]}');
    assert.equal(claimText(null), undefined);
  });
});

/** An exchange carrying `authorization`. */
function exchange(authorization?: string): PolicyExchange {
  const headers = new Headers();
  if (authorization !== undefined) headers.set("authorization", authorization);
  return { method: "GET", path: "/", requestHeaders: headers, responseHeaders: undefined, search: "" };
}

describe("validate-jwt with inline keys", () => {
  it("accepts RS256 and HS256 with their own keys only, and caches accepted tokens", async () => {
    const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
    const secret = new Uint8Array(32).fill(9);
    const step = new JwtStep(
      "validate-jwt",
      "closed",
      builtinPolicyConfig("validate-jwt", {
        "issuer-signing-keys": [{ pem: await exportSPKI(publicKey), id: "rsa" }, { value: Buffer.from(secret).toString("base64"), id: "hs" }],
        "output-token-variable-name": "token",
      }),
      DEFAULT_HOST_CONTEXT,
    );
    const exp = Math.floor(Date.now() / 1000) + 60;
    const rs = await new SignJWT({ sub: "u1", roles: ["a", "b"] }).setProtectedHeader({ alg: "RS256", kid: "rsa" }).setExpirationTime(exp).sign(privateKey);
    const ok = exchange(`Bearer ${rs}`);
    await step.call("on_request", ok);
    assert.equal(ok.reply, undefined);
    assert.equal(ok.claims?.get("sub"), "u1");
    assert.equal(ok.claims?.get("roles"), "a,b");
    assert.deepEqual(JSON.parse(ok.variables!.get("token")!), { sub: "u1", roles: ["a", "b"], exp });
    assert.equal(step.cachedTokens, 1);
    const again = exchange(`bearer  ${rs}`);
    await step.call("on_request", again);
    assert.equal(again.claims?.get("sub"), "u1");

    const hs = await new SignJWT({ sub: "u2" }).setProtectedHeader({ alg: "HS256", kid: "hs" }).setExpirationTime(exp).sign(secret);
    const hsOk = exchange(`Bearer ${hs}`);
    await step.call("on_request", hsOk);
    assert.equal(hsOk.claims?.get("sub"), "u2");

    // HS256 "signed" with the RSA public key (as text or as its JWK members), naming the RSA key or none.
    const pem = new TextEncoder().encode(await exportSPKI(publicKey));
    const n = new TextEncoder().encode(JSON.stringify(await exportJWK(publicKey)));
    for (const [material, kid] of [[pem, "rsa"], [pem, undefined], [n, "rsa"]] as const) {
      const forged = await new SignJWT({ sub: "x" }).setProtectedHeader(kid ? { alg: "HS256", kid } : { alg: "HS256" }).setExpirationTime(exp).sign(material);
      const ex = exchange(`Bearer ${forged}`);
      await step.call("on_request", ex);
      assert.equal(ex.reply?.status, 401);
      assert.equal(ex.claims, undefined);
      assert.equal(JSON.parse(ex.reply!.body).type, "urn:portico:problem:jwt-invalid");
    }
    const missing = exchange();
    await step.call("on_request", missing);
    assert.equal(missing.reply?.status, 401);
    assert.equal(missing.reply?.headers.get("www-authenticate"), "Bearer");
    assert.equal(JSON.parse(missing.reply!.body).title, "JWT not present");
    const wrongScheme = exchange(`Basic ${rs}`);
    await step.call("on_request", wrongScheme);
    assert.equal(JSON.parse(wrongScheme.reply!.body).type, "urn:portico:problem:jwt-missing");
  });
});
