import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import { builtinPolicyConfig } from "./policies.ts";
import { validateConfig } from "./validate.ts";

/** Problems of one API whose `section` is `uses`, as `path: message` lines. */
function problems(uses: unknown[], section = "inbound"): string[] {
  const result = validateConfig({
    apis: [{ name: "a", path: "/a", backend: "main", policies: { [section]: uses } }],
    backends: { main: { urls: ["http://127.0.0.1:9000"] } },
  });
  return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
}

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const rsaPem = rsa.publicKey.export({ type: "spki", format: "pem" }) as string;
const rsaPrivatePem = rsa.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const ecJwk = ec.publicKey.export({ format: "jwk" });
const SECRET = Buffer.alloc(32, 7).toString("base64");
const jwt = (params: Record<string, unknown>) => ({ policy: "validate-jwt", with: params });
const at = (key: string) => `apis[0].policies.inbound[0].with${key}`;

describe("validate-jwt parameters", () => {
  it("accepts APIM's attributes and elements", () => {
    assert.deepEqual(
      problems([
        jwt({
          "header-name": "Authorization",
          "failed-validation-httpcode": 403,
          "failed-validation-error-message": "Unauthorized. Access token is missing or invalid.",
          "clock-skew": 30,
          "output-token-variable-name": "jwt",
          "openid-config": { url: "https://login.example.com/.well-known/openid-configuration" },
          "issuer-signing-keys": [rsaPem, { pem: rsaPem, id: "pem-2" }, { ...ecJwk, kid: "ec-1" }, { value: SECRET, id: "hs" }],
          audiences: ["api://orders"],
          issuers: "https://login.example.com/",
          "required-claims": [{ name: "roles", match: "any", values: ["admin", "reader"] }, { name: "tid" }],
        }),
      ]),
      [],
    );
  });

  it("resolves defaults and keys into the strings the gateway reads", () => {
    const config = builtinPolicyConfig("validate-jwt", { "issuer-signing-keys": [{ pem: rsaPem, id: "k1" }, { value: SECRET }], audiences: "a" });
    assert.equal(config["header-name"], "Authorization");
    assert.equal(config["require-scheme"], "Bearer");
    assert.equal(config["failed-validation-httpcode"], "401");
    assert.equal(config["require-expiration-time"], "true");
    assert.equal(config["clock-skew"], "0");
    assert.equal(config.audiences, "a");
    const keys = JSON.parse(config["issuer-signing-keys"]!);
    assert.equal(keys[0].kty, "RSA");
    assert.equal(keys[0].kid, "k1");
    assert.deepEqual(keys[0].algs, ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]);
    assert.deepEqual(keys[1].algs, ["HS256"]);
    // A custom header carries a bare token unless require-scheme says otherwise.
    assert.equal(builtinPolicyConfig("validate-jwt", { "header-name": "x-token", jwks: { url: "http://k" } })["require-scheme"], "");
  });

  it("reports wrong parameters at their paths, never quoting a symmetric key", () => {
    const lines = problems([
      jwt({
        "query-parameter-name": "t",
        "token-value": "{request.header.x-t}",
        "issuer-signing-keys": [{ value: "c2hvcnQ=" }, rsaPrivatePem, { kty: "RSA", e: "AQAB" }, { ...ecJwk, alg: "RS256" }],
        "require-signed-tokens": false,
        "required-claims": [{ name: "r", match: "some" }],
        "openid-config": { url: "ftp://x" },
      }),
    ]);
    assert.deepEqual(lines.map((l) => l.replace(/ \(got .*\)$/, "")), [
      `${at(".require-signed-tokens")}: unsigned tokens are never accepted: leave require-signed-tokens at true`,
      `${at(".openid-config.url")}: expected an http:// or https:// URL without credentials or fragment`,
      `${at(".issuer-signing-keys[0]")}: a symmetric key needs at least 32 bytes, not 5`,
      `${at(".issuer-signing-keys[1]")}: a PRIVATE KEY cannot be a signing key here; give a PUBLIC KEY or a CERTIFICATE`,
      `${at(".issuer-signing-keys[2]")}: not a valid RSA public key`,
      `${at(".issuer-signing-keys[3]")}: alg "RS256" does not fit this key (it allows ES256)`,
      `${at(".required-claims[0].match")}: Invalid option: expected one of "all"|"any"`,
    ]);
    assert.ok(!lines.join("\n").includes("c2hvcnQ"), lines.join("\n"));
    assert.deepEqual(problems([jwt({ "query-parameter-name": "t", "token-value": "{request.header.x}", jwks: { url: "http://k" } })]), [
      `${at(".token-value")}: takes the token from one place: give only one of query-parameter-name, token-value (got "{request.header.x}")`,
    ]);
    assert.deepEqual(problems([jwt({ audiences: ["a"] })]), [`${at("")}: needs signing keys: issuer-signing-keys, openid-config or jwks (got a map)`]);
  });

  it("runs on requests only, and never fails open", () => {
    assert.deepEqual(problems([jwt({ jwks: { url: "http://k" } })], "outbound"), [
      "apis[0].policies.outbound[0].policy: validate-jwt checks requests: use it in inbound (or backend), not outbound",
    ]);
    assert.deepEqual(problems([{ ...jwt({ jwks: { url: "http://k" } }), failure: "open" }]), [
      "apis[0].policies.inbound[0].failure: validate-jwt cannot fail open: a request whose token it could not check would pass unchecked",
    ]);
  });
});
