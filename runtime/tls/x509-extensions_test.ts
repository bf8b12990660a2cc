import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import { issue, makeCa, makeIntermediate } from "../../test/certificates.ts";
import { tempDir } from "../../test/harness.ts";
import { KEY_USAGE, OID, readExtensions } from "./x509-extensions.ts";

describe("readExtensions (certificates made by openssl)", () => {
  const dir = tempDir();
  const root = makeCa(dir, "root");
  const intermediate = makeIntermediate(dir, root, "int", { basicConstraints: "critical,CA:TRUE,pathlen:1" });
  const constrained = makeIntermediate(dir, root, "named", { extra: "nameConstraints=critical,permitted;DNS:example.com" });
  const leaf = issue(dir, intermediate, "leaf.test");
  const serverOnly = issue(dir, intermediate, "server.test", "server.test", [], { extendedKeyUsage: "serverAuth" });
  const noEku = issue(dir, intermediate, "plain.test", "plain.test", [], { extendedKeyUsage: null });
  const read = (pem: string) => readExtensions(new X509Certificate(pem).raw);

  it("reads basic constraints with and without a path length, agreeing with node:crypto's `ca`", () => {
    assert.deepEqual(read(root.cert).basicConstraints, { ca: true, pathLength: undefined });
    assert.deepEqual(read(intermediate.cert).basicConstraints, { ca: true, pathLength: 1 });
    assert.deepEqual(read(leaf.cert).basicConstraints, { ca: false, pathLength: undefined });
    for (const pem of [root.cert, intermediate.cert, leaf.cert]) assert.equal(read(pem).basicConstraints?.ca, new X509Certificate(pem).ca);
  });

  it("reads key usage bits", () => {
    const usage = read(intermediate.cert).keyUsage!;
    assert.equal(usage(KEY_USAGE.keyCertSign), true);
    assert.equal(usage(KEY_USAGE.digitalSignature), false);
    assert.equal(read(leaf.cert).keyUsage, undefined, "openssl's leaf here has no key usage extension");
  });

  it("reads extended key usage purposes, and tells an absent extension from an empty one", () => {
    assert.deepEqual(read(leaf.cert).extendedKeyUsage, ["1.3.6.1.5.5.7.3.1", OID.clientAuth]);
    assert.deepEqual(read(serverOnly.cert).extendedKeyUsage, ["1.3.6.1.5.5.7.3.1"]);
    assert.equal(read(noEku.cert).extendedKeyUsage, undefined);
  });

  it("names critical extensions it does not process (name constraints), and none for ordinary certificates", () => {
    assert.deepEqual(read(constrained.cert).unhandledCritical, ["2.5.29.30"]);
    assert.deepEqual(read(intermediate.cert).unhandledCritical, []);
    assert.deepEqual(read(leaf.cert).unhandledCritical, []);
  });

  it("throws on truncated or non-certificate DER", () => {
    const raw = new X509Certificate(leaf.cert).raw;
    assert.throws(() => readExtensions(raw.subarray(0, raw.length - 10)), /DER|expected/);
    assert.throws(() => readExtensions(new Uint8Array([0x02, 0x01, 0x00])), /expected a Certificate SEQUENCE/);
    assert.throws(() => readExtensions(new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])), /longer than its container/);
  });
});
