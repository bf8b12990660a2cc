import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { builtinPolicyConfig } from "../../../config/schema/policies.ts";
import type { PolicyExchange } from "../abi.ts";
import { DEFAULT_HOST_CONTEXT } from "../host.ts";
import { claimText, unmetClaim } from "./claims.ts";
import { JwtStep } from "./step.ts";
import { checkClaims, type ClaimRules } from "./verify.ts";

const rules = (over: Partial<ClaimRules> = {}): ClaimRules => ({ requireExpiration: true, skewSeconds: 0, audiences: undefined, required: [], ...over });

describe("validate-jwt claim checks", () => {
  it("applies the clock skew to exp and nbf", () => {
    const now = 1_000_000;
    assert.equal(checkClaims({ exp: now }, rules(), undefined, now), "expired");
    assert.equal(checkClaims({ exp: now - 29 }, rules({ skewSeconds: 30 }), undefined, now), undefined);
    assert.equal(checkClaims({ exp: now - 30 }, rules({ skewSeconds: 30 }), undefined, now), "expired");
    assert.equal(checkClaims({ exp: now + 60, nbf: now + 10 }, rules(), undefined, now), "not-yet-valid");
    assert.equal(checkClaims({ exp: now + 60, nbf: now + 10 }, rules({ skewSeconds: 10 }), undefined, now), undefined);
    assert.equal(checkClaims({}, rules(), undefined, now), "no-expiration");
    assert.equal(checkClaims({}, rules({ requireExpiration: false }), undefined, now), undefined);
    assert.equal(checkClaims({ exp: "soon" }, rules(), undefined, now), "malformed");
  });

  it("checks issuers and audiences (any of them)", () => {
    const r = rules({ requireExpiration: false, audiences: new Set(["a", "b"]) });
    assert.equal(checkClaims({ aud: ["x", "b"], iss: "i" }, r, new Set(["i"]), 0), undefined);
    assert.equal(checkClaims({ aud: "c", iss: "i" }, r, new Set(["i"]), 0), "audience");
    assert.equal(checkClaims({ aud: "a", iss: "j" }, r, new Set(["i"]), 0), "issuer");
    assert.equal(checkClaims({ aud: "a" }, r, new Set(["i"]), 0), "issuer");
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
