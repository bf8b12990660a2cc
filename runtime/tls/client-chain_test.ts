import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import { issue, type IssuedCertificate, makeCa, makeIntermediate } from "../../test/certificates.ts";
import { tempDir } from "../../test/harness.ts";
import { type ChainVerdict, verifyClientChain } from "./client-chain.ts";

const x509 = (c: IssuedCertificate) => new X509Certificate(c.cert);

describe("verifyClientChain (certificates made by openssl)", () => {
  const dir = tempDir();
  const root = makeCa(dir, "root");
  const otherRoot = makeCa(dir, "other-root");
  const intermediate = makeIntermediate(dir, root, "int");
  const leaf = issue(dir, intermediate, "alice.test");
  const verify = (l: IssuedCertificate, presented: IssuedCertificate[], anchors: IssuedCertificate[], at = Date.now()): ChainVerdict =>
    verifyClientChain(x509(l), presented.map(x509), anchors.map(x509), at);
  const reason = (v: ChainVerdict) => (v.trusted ? "(trusted)" : v.reason);

  it("trusts a leaf through an intermediate the client sent, up to the configured root", () => {
    const verdict = verify(leaf, [intermediate], [root]);
    assert.ok(verdict.trusted, reason(verdict));
    assert.deepEqual(verdict.path.map((c) => c.subject), ["CN=alice.test", "CN=Portico test int", "CN=Portico test root"]);
  });

  it("trusts a leaf through an intermediate configured with the root, or configured alone", () => {
    assert.ok(verify(leaf, [], [root, intermediate]).trusted);
    assert.ok(verify(leaf, [], [intermediate]).trusted);
  });

  it("does not trust a leaf whose intermediate is neither sent nor configured, or that chains to another root", () => {
    assert.match(reason(verify(leaf, [], [root])), /^it is not issued by a configured CA, nor by an intermediate the client sent/);
    assert.equal(verify(leaf, [intermediate], [otherRoot]).trusted, false);
    assert.match(reason(verify(leaf, [intermediate], [])), /no clientCa is configured/);
  });

  it("does not link an intermediate that has the right name but another key", () => {
    const impostorDir = tempDir();
    const impostor = makeIntermediate(impostorDir, root, "int"); // same subject, new key, also signed by root
    assert.equal(verify(leaf, [impostor], [root]).trusted, false);
    assert.ok(verify(leaf, [impostor, intermediate], [root]).trusted, "the real one, sent too, still links");
  });

  it("refuses a leaf without clientAuth in its extended key usage, and accepts one without the extension", () => {
    const serverOnly = issue(dir, intermediate, "server.test", "server.test", [], { extendedKeyUsage: "serverAuth" });
    assert.match(reason(verify(serverOnly, [intermediate], [root])), /extended key usage does not include client authentication/);
    const noEku = issue(dir, intermediate, "plain.test", "plain.test", [], { extendedKeyUsage: null });
    assert.ok(verify(noEku, [intermediate], [root]).trusted);
    const any = issue(dir, intermediate, "any.test", "any.test", [], { extendedKeyUsage: "anyExtendedKeyUsage" });
    assert.ok(verify(any, [intermediate], [root]).trusted);
  });

  it("refuses an intermediate without CA:TRUE, sent or configured", () => {
    const notCa = makeIntermediate(dir, root, "not-ca", { basicConstraints: "critical,CA:FALSE" });
    const under = issue(dir, notCa, "bob.test");
    assert.match(reason(verify(under, [notCa], [root])), /the issuer CN=Portico test not-ca is not a CA/);
    assert.match(reason(verify(under, [], [notCa])), /is not a CA/);
    const noBasic = makeIntermediate(dir, root, "no-basic", { basicConstraints: null });
    assert.match(reason(verify(issue(dir, noBasic, "carol.test"), [noBasic], [root])), /is not a CA/);
  });

  it("refuses an intermediate whose key usage lacks keyCertSign", () => {
    const noSign = makeIntermediate(dir, root, "no-sign", { keyUsage: "critical,digitalSignature" });
    const verdict = verify(issue(dir, noSign, "dave.test"), [noSign], [root]);
    // node:crypto's checkIssued already refuses such an issuer on Node and Bun (OpenSSL, BoringSSL); on Deno the key usage check does.
    assert.match(reason(verdict), /keyCertSign|not issued by a configured CA/);
  });

  it("enforces a path length constraint", () => {
    const top = makeIntermediate(dir, root, "top", { basicConstraints: "critical,CA:TRUE,pathlen:0" });
    const middle = makeIntermediate(dir, top, "middle");
    const deep = issue(dir, middle, "erin.test");
    assert.match(reason(verify(deep, [middle, top], [root])), /the issuer CN=Portico test top allows 0 intermediate CA\(s\) below it/);
    const one = makeIntermediate(dir, root, "one", { basicConstraints: "critical,CA:TRUE,pathlen:1" });
    const middle2 = makeIntermediate(dir, one, "middle2");
    assert.ok(verify(issue(dir, middle2, "frank.test"), [middle2, one], [root]).trusted);
  });

  it("refuses an issuer with a critical extension it does not process, and an expired issuer", () => {
    const constrained = makeIntermediate(dir, root, "named", { extra: "nameConstraints=critical,permitted;DNS:example.com" });
    assert.match(reason(verify(issue(dir, constrained, "grace.test"), [constrained], [root])), /critical extension Portico does not process \(2\.5\.29\.30\)/);
    const later = Date.now() + 10 * 24 * 3600 * 1000; // the test certificates are valid two days
    assert.match(reason(verify(leaf, [intermediate], [root], later)), /has expired/);
  });

  it("ignores certificates the client sent that are not links, in any order", () => {
    const stranger = makeIntermediate(dir, otherRoot, "stranger");
    assert.ok(verify(leaf, [stranger, otherRoot, intermediate, leaf], [root]).trusted);
  });
});
