import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { IncomingMessage, ServerResponse } from "node:http";
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from "jose";
import { freePort, type GatewayProcess, startGatewayProcess } from "../../../test/harness.ts";
import { httpCall } from "../../../test/http-client.ts";
import { startUpstream, type Upstream } from "../../../test/upstream.ts";

type Key = Awaited<ReturnType<typeof generateKeyPair>>;

/**
 * validate-jwt in a real gateway process (the runtime running this test) against an OpenID
 * configuration and JWKS served over loopback HTTP by the test: RS256 and ES256 accepted, key
 * rotation, and the attack set refused with the configured status.
 */
describe("validate-jwt end to end", () => {
  const ISSUER = "https://issuer.test/";
  let idp: Upstream;
  let backend: Upstream;
  let gw: GatewayProcess;
  let rsa: Key;
  let ec: Key;
  let rotated: Key;
  /** The JWKS each tenant's endpoint serves ("a": /oidc, "b": /rot), and how often each was fetched. */
  const jwks: Record<string, JWK[]> = {};
  const hits: Record<string, number> = { a: 0, b: 0, garbage: 0 };
  const now = () => Math.floor(Date.now() / 1000);
  const tokens: string[] = [];

  /** Serves /{tenant}/.well-known/openid-configuration and /{tenant}/jwks, and /garbage. */
  function serveKeys(req: IncomingMessage, res: ServerResponse): void {
    const [, tenant, rest] = /^\/([^/]+)\/?(.*)$/.exec(req.url ?? "") ?? [];
    const json = (value: unknown) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (tenant === "garbage") {
      hits.garbage! += 1;
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end("<html>this is not a key set</html>");
    }
    if (rest === ".well-known/openid-configuration") return json({ issuer: ISSUER, jwks_uri: `${idp.url}/${tenant}/jwks` });
    if (rest === "jwks" && jwks[tenant!]) {
      hits[tenant!] = (hits[tenant!] ?? 0) + 1;
      return json({ keys: jwks[tenant!] });
    }
    res.writeHead(404).end();
  }

  async function publicJwk(key: Key, kid: string, alg: string): Promise<JWK> {
    return { ...(await exportJWK(key.publicKey)), kid, alg, use: "sig" };
  }

  /** A signed token; `claims` replace the defaults (iss, aud, exp in a minute). */
  function sign(key: Key | Uint8Array, header: { alg: string; kid?: string }, claims: Record<string, unknown> = {}): Promise<string> {
    const body = { sub: "alice", iss: ISSUER, aud: "orders", exp: now() + 60, ...claims };
    for (const [name, value] of Object.entries(body)) if (value === undefined) delete body[name as keyof typeof body];
    const signer = new SignJWT(body).setProtectedHeader(header);
    return signer.sign(key instanceof Uint8Array ? key : key.privateKey).then((t) => (tokens.push(t), t));
  }

  const call = (path: string, token?: string) => httpCall(gw.port, path, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  before(async () => {
    [rsa, ec, rotated] = await Promise.all([
      generateKeyPair("RS256", { extractable: true }),
      generateKeyPair("ES256", { extractable: true }),
      generateKeyPair("RS256", { extractable: true }),
    ]);
    jwks.a = [await publicJwk(rsa, "r1", "RS256"), await publicJwk(ec, "e1", "ES256")];
    jwks.b = [await publicJwk(rsa, "r1", "RS256")];
    idp = await startUpstream(serveKeys);
    backend = await startUpstream();
    const down = `http://127.0.0.1:${await freePort()}/jwks`;
    gw = await startGatewayProcess({
      config: `
apis:
  - name: oidc
    path: /oidc
    backend: main
    policies:
      inbound:
        - policy: validate-jwt
          with:
            failed-validation-httpcode: 403
            failed-validation-error-message: Unauthorized. Access token is missing or invalid.
            openid-config: { url: "${idp.url}/a/.well-known/openid-configuration" }
            audiences: [orders]
            clock-skew: 30
            output-token-variable-name: jwt
  - name: rot
    path: /rot
    backend: main
    policies:
      inbound:
        - policy: validate-jwt
          with:
            openid-config: { url: "${idp.url}/b/.well-known/openid-configuration" }
            issuers: ["${ISSUER}"]
            jwks-refetch-cooldown: 1
  - name: down
    path: /down
    backend: main
    policies:
      inbound: [ { policy: validate-jwt, with: { jwks: { url: "${down}" }, failed-validation-httpcode: 403 } } ]
  - name: garbage
    path: /garbage
    backend: main
    policies:
      inbound: [ { policy: validate-jwt, with: { jwks: { url: "${idp.url}/garbage/jwks" }, failed-validation-httpcode: 403 } } ]
backends:
  main: { urls: ["${backend.url}"] }
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await idp?.close();
    await backend?.close();
  });

  // Claims reaching later policies (exchange.claims, the output variable) are checked in step_test.ts:
  // the policies that read them (templates) run in WebAssembly and are not needed here.
  it("accepts RS256 and ES256 tokens from the discovered JWKS", async () => {
    const rs = await call("/oidc/x", await sign(rsa, { alg: "RS256", kid: "r1" }, { roles: ["a", "b"] }));
    assert.equal(rs.status, 200, rs.body);
    assert.equal(backend.seen.length, 1);
    const es = await call("/oidc/x", await sign(ec, { alg: "ES256", kid: "e1" }));
    assert.equal(es.status, 200, es.body);
    // Within the clock skew (30 s), an expired token still passes.
    assert.equal((await call("/oidc/x", await sign(rsa, { alg: "RS256", kid: "r1" }, { exp: now() - 10 }))).status, 200);
  });

  it("refuses every token of the attack set with the configured status", async () => {
    const valid = await sign(rsa, { alg: "RS256", kid: "r1" });
    const [h, p, s] = valid.split(".");
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const payload = { sub: "alice", iss: ISSUER, aud: "orders", exp: now() + 60 };
    const stranger = await generateKeyPair("RS256");
    const rsaPem = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    const cases: Record<string, string> = {
      "alg none": `${b64({ alg: "none" })}.${b64(payload)}.`,
      "alg none with a signature": `${b64({ alg: "none", kid: "r1" })}.${b64(payload)}.${s}`,
      "HS256 signed with the RSA public key": await sign(rsaPem, { alg: "HS256", kid: "r1" }),
      "expired beyond the skew": await sign(rsa, { alg: "RS256", kid: "r1" }, { exp: now() - 120 }),
      "nbf in the future": await sign(rsa, { alg: "RS256", kid: "r1" }, { nbf: now() + 300 }),
      "wrong aud": await sign(rsa, { alg: "RS256", kid: "r1" }, { aud: "billing" }),
      "wrong iss": await sign(rsa, { alg: "RS256", kid: "r1" }, { iss: "https://evil.test/" }),
      "missing exp": await sign(rsa, { alg: "RS256", kid: "r1" }, { exp: undefined }),
      "unknown kid": await sign(stranger, { alg: "RS256", kid: "r9" }),
      "tampered payload": `${h}.${b64({ ...JSON.parse(Buffer.from(p!, "base64url").toString()), sub: "mallory" })}.${s}`,
      "token over 8 KiB": await sign(rsa, { alg: "RS256", kid: "r1" }, { pad: "x".repeat(8 * 1024) }),
      "ES256 token naming the RSA key": await sign(ec, { alg: "ES256", kid: "r1" }),
      "not a compact JWS (two parts)": `${h}.${p}`,
      "an unknown crit extension": await new SignJWT({ ...payload, sub: "mallory" })
        .setProtectedHeader({ alg: "RS256", kid: "r1", crit: ["x-portico-test"], "x-portico-test": true })
        .sign(rsa.privateKey, { crit: { "x-portico-test": true } }),
    };
    const fetchesBefore = hits.a;
    for (const [name, token] of Object.entries(cases)) {
      const res = await call("/oidc/x", token);
      assert.equal(res.status, 403, `${name}: ${res.status} ${res.body}`);
      const problem = JSON.parse(res.body);
      assert.equal(problem.type, "urn:portico:problem:jwt-invalid", name);
      assert.equal(problem.title, "JWT validation failed", name);
      assert.equal(problem.detail, "Unauthorized. Access token is missing or invalid.", name);
      assert.equal(res.headers["content-type"], "application/problem+json", name);
    }
    const none = await call("/oidc/x");
    assert.equal(none.status, 403);
    assert.equal(JSON.parse(none.body).type, "urn:portico:problem:jwt-missing");
    // Random kids within the cooldown (30 s) never make the gateway fetch the JWKS again.
    for (let i = 0; i < 10; i++) assert.equal((await call("/oidc/x", await sign(stranger, { alg: "RS256", kid: `random-${i}` }))).status, 403);
    assert.equal(hits.a, fetchesBefore);
    assert.equal(backend.seen.filter((r) => r.url.includes("mallory")).length, 0);
  });

  it("refuses tokens while the JWKS endpoint is down or answers garbage, with a log line and a metric", async () => {
    const token = await sign(rsa, { alg: "RS256", kid: "r1" });
    for (const path of ["/down/x", "/garbage/x"]) {
      const res = await call(path, token);
      assert.equal(res.status, 403, `${path}: ${res.body}`);
      assert.equal(JSON.parse(res.body).detail, "The keys to check the token could not be obtained.");
    }
    assert.ok(hits.garbage! >= 1);
    const metrics = await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`).then((r) => r.text());
    assert.match(metrics, /portico_jwt_keys_fetch_failures_total\{reason="unreachable"\} [1-9]/);
    assert.match(metrics, /portico_jwt_keys_fetch_failures_total\{reason="invalid"\} [1-9]/);
    assert.match(metrics, /portico_jwt_validation_failures_total\{reason="keys-unavailable"\} [1-9]/);
    // Each attack was refused for its own reason: alg none (with or without a signature), HS256 with
    // the RSA key and ES256 naming the RSA key are algorithms no key allows; two parts and an unknown
    // crit extension are malformed.
    const counts = Object.fromEntries(
      [...metrics.matchAll(/portico_jwt_validation_failures_total\{reason="([a-z-]+)"\} (\d+)/g)].map((m) => [m[1], Number(m[2])]),
    );
    assert.deepEqual(counts, {
      missing: 1,
      "too-large": 1,
      malformed: 2,
      algorithm: 4,
      "unknown-key": 11,
      signature: 1,
      expired: 1,
      "not-yet-valid": 1,
      "no-expiration": 1,
      issuer: 1,
      audience: 1,
      "keys-unavailable": 2,
    });
    assert.match(gw.output(), /validate-jwt could not fetch its signing keys/);
  });

  it("picks up a rotated key after the cooldown, and drops the retired one", async () => {
    const old = await sign(rsa, { alg: "RS256", kid: "r1" });
    assert.equal((await call("/rot/x", old)).status, 200);
    jwks.b = [await publicJwk(rotated, "r2", "RS256")];
    await new Promise((r) => setTimeout(r, 1_200));
    const fresh = await call("/rot/x", await sign(rotated, { alg: "RS256", kid: "r2" }));
    assert.equal(fresh.status, 200, fresh.body);
    // The key set changed: the old token, cached as accepted, is checked again and its key is gone.
    const retired = await call("/rot/x", old);
    assert.equal(retired.status, 401);
    assert.equal(retired.headers["www-authenticate"], 'Bearer error="invalid_token"');
  });

  it("never writes a token to the log", () => {
    const output = gw.output();
    for (const token of tokens) assert.ok(!output.includes(token.split(".")[2]!), "a token signature appears in the gateway's output");
  });
});
