import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { validateConfig } from "./validate.ts";

/** Validates and insists on failure; returns the problems as `path: message` lines. */
function problems(input: unknown): string[] {
  const result = validateConfig(input);
  if (result.ok) return [];
  return result.problems.map((p) => `${p.path}: ${p.message}`);
}

const BACKENDS = { orders: { urls: ["http://127.0.0.1:9000/v2"] }, users: { urls: ["http://127.0.0.1:9001"] } };

describe("validateConfig: backend TLS", () => {
  it("takes TLS options for https:// backends only, with cert and key together", () => {
    assert.deepEqual(
      problems({
        backends: {
          a: { urls: ["http://127.0.0.1:9000"], tls: { ca: "ca.pem" } },
          b: { urls: ["https://127.0.0.1:9000"], tls: { cert: "client.pem" } },
          c: { urls: ["https://127.0.0.1:9000"], tls: { verify: "no", sni: "not a host" } },
        },
      }),
      [
        "backends.a.tls: tls options need https:// URLs (got a map)",
        "backends.b.tls: cert and key go together (a client certificate needs its key) (got a map)",
        'backends.c.tls.verify: expected boolean, received string (got "no")',
        'backends.c.tls.sni: expected a host name such as api.example.com or *.example.com (got "not a host")',
      ],
    );
    assert.deepEqual(
      problems({ backends: { d: { urls: ["https://10.0.0.5"], tls: { ca: "ca.pem", cert: "c.pem", key: "k.pem", verify: false, sni: "backend.internal" } } } }),
      [],
    );
  });
});

describe("validateConfig: validate-client-certificate", () => {
  it("checks identities and refuses revocation checking it cannot do", () => {
    const use = (params: unknown) => ({
      apis: [{ name: "a", path: "/a", backend: "orders", policies: { inbound: [{ policy: "validate-client-certificate", with: params }] } }],
      backends: BACKENDS,
    });
    assert.deepEqual(problems(use({ "validate-revocation": true, identities: [{}, { thumbprint: "zz" }, { subject: "CN=a\tb" }] })), [
      "apis[0].policies.inbound[0].with.validate-revocation: revocation checking (CRL, OCSP) is not supported: set validate-revocation: false (got true)",
      "apis[0].policies.inbound[0].with.identities[0]: an identity needs at least one attribute, such as thumbprint or subject (got a map)",
      'apis[0].policies.inbound[0].with.identities[1].thumbprint: expected hexadecimal digits (got "zz")',
      'apis[0].policies.inbound[0].with.identities[2].subject: must not contain tabs, line breaks or NUL (got "CN=a\\tb")',
    ]);
    assert.deepEqual(problems(use({ identities: [{ thumbprint: "ab:cd:ef", "common-name": "alice" }] })), []);
  });
});

describe("validateConfig: the global scope", () => {
  it("checks global policies like an API's, at their path", () => {
    assert.deepEqual(
      problems({ global: { policies: { inbound: [{ policy: "set-heder" }], outbound: [{ policy: "set-header", with: {} }] } }, backends: BACKENDS }).map((p) =>
        p.replace(/ \(did you mean.*$/, "")
      ),
      ['global.policies.inbound[0].policy: unknown policy "set-heder"', "global.policies.outbound[0].with.name: required (expected string)"],
    );
    assert.deepEqual(problems({ global: { polices: {} } }), ['global.polices: unknown key (did you mean "policies"?)']);
  });
});
