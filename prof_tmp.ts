import { generateKeyPairSync, sign as cryptoSign, createPublicKey } from "node:crypto";
import { builtinPolicyConfig } from "./config/schema/policies.ts";
import { JwtStep } from "./runtime/policy/jwt/step.ts";
import { parseToken, verifySignature, checkClaims } from "./runtime/policy/jwt/verify.ts";
import { claimsMap } from "./runtime/policy/jwt/claims.ts";
import { tokenHash } from "./runtime/policy/jwt/cache.ts";
import { DEFAULT_HOST_CONTEXT } from "./runtime/policy/host.ts";
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const rsaPem = rsa.publicKey.export({ type: "spki", format: "pem" }) as string;
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
const now = Math.floor(Date.now() / 1000);
const N = 8000;
const toks = Array.from({ length: N }, (_, i) => { const input = `${b64({ alg: "RS256", kid: "rsa" })}.${b64({ sub: "u" + i, exp: now + 3600, aud: "a", roles: ["x","y"], iss: "https://login.example.com/tenant/v2.0", oid: "7f9c1f8e-3b1e-4f8e-9a55-0d1d5b0e4c1a" })}`; return `${input}.${cryptoSign("sha256", Buffer.from(input), rsa.privateKey).toString("base64url")}`; });
const ko = createPublicKey(rsaPem);
const key = { kid: "rsa", algs: new Set(["RS256"]), material: ko };
const acc = { hash: 0, parse: 0, verify: 0, claims: 0, map: 0 };
for (let r = 0; r < 3; r++) {
  for (const k in acc) (acc as any)[k] = 0;
  for (let i = 0; i < N; i++) {
    let t0 = performance.now(); tokenHash(toks[i]!); let t1 = performance.now(); acc.hash += t1 - t0;
    const p = parseToken(toks[i]!) as any; t0 = performance.now(); acc.parse += t0 - t1;
    verifySignature("RS256", key, p.signingInput, p.signature); t1 = performance.now(); acc.verify += t1 - t0;
    checkClaims(p.payload, { requireExpiration: true, skewSeconds: 0, audiences: undefined, required: [] }, undefined, now); t0 = performance.now(); acc.claims += t0 - t1;
    claimsMap(p.payload); t1 = performance.now(); acc.map += t1 - t0;
  }
  console.log(Object.entries(acc).map(([k, v]) => `${k} ${(v * 1000 / N).toFixed(2)}`).join("  "));
}
const step = new JwtStep("v", "closed", builtinPolicyConfig("validate-jwt", { "issuer-signing-keys": [{ pem: rsaPem, id: "rsa" }] }), DEFAULT_HOST_CONTEXT);
const exs = toks.map((t) => ({ method: "GET", path: "/", requestHeaders: new Headers({ authorization: "Bearer " + t }), responseHeaders: undefined } as any));
let s = performance.now();
for (let i = 0; i < N; i++) { await step.call("on_request", exs[i]); }
console.log("step fresh", ((performance.now() - s) * 1000 / N).toFixed(2));
s = performance.now();
for (let i = 0; i < N; i++) { await step.call("on_request", exs[0]); }
console.log("step repeated", ((performance.now() - s) * 1000 / N).toFixed(2));
for (let r = 0; r < 3; r++) {
  const st = new JwtStep("v", "closed", builtinPolicyConfig("validate-jwt", { "issuer-signing-keys": [{ pem: rsaPem, id: "rsa" }] }), DEFAULT_HOST_CONTEXT);
  const s2 = performance.now();
  for (let i = 0; i < N; i++) { await st.call("on_request", exs[i]); }
  console.log("step fresh round", ((performance.now() - s2) * 1000 / N).toFixed(2));
}
