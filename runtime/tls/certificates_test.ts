import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { issue, makeCa } from "../../test/certificates.ts";
import { tempDir } from "../../test/harness.ts";
import { mustBuild, snapshotFromValue } from "../../config/snapshot/build.ts";
import { CertificateSet } from "./certificates.ts";

/** The certificate set of a configuration with these host names (files relative to `baseDir`). */
function load(hostnames: { host: string; cert: string; key: string }[], baseDir: string): CertificateSet | undefined {
  return CertificateSet.from(mustBuild(snapshotFromValue({ hostnames }, "test", { baseDir })).hostnames);
}

describe("CertificateSet", () => {
  const dir = tempDir();
  const ca = makeCa(dir);
  const a = issue(dir, ca, "a.test");
  const wild = issue(dir, ca, "*.w.test");

  it("reads files relative to the configuration's folder, or PEM given inline", () => {
    const set = load([{ host: "a.test", cert: "a.test.pem", key: a.key }], dir)!;
    assert.equal(set.default.cert, a.cert);
    assert.ok(set.default.notAfter > Date.now());
    assert.equal(load([], dir), undefined);
  });

  it("chooses by exact name, then one-label wildcard, else the first entry", () => {
    const set = load(
      [
        { host: "a.test", cert: a.certFile, key: a.keyFile },
        { host: "*.w.test", cert: wild.certFile, key: wild.keyFile },
      ],
      dir,
    )!;
    assert.equal(set.find("a.test").host, "a.test");
    assert.equal(set.find("x.w.test").host, "*.w.test");
    assert.equal(set.find("X.W.TEST").host, "*.w.test");
    assert.equal(set.find("w.test").host, "a.test");
    assert.equal(set.find("y.x.w.test").host, "a.test");
    assert.equal(set.find(undefined).host, "a.test");
  });

  it("says which host name and file is wrong, at the entry's path", () => {
    assert.throws(
      () => load([{ host: "a.test", cert: "missing.pem", key: a.keyFile }], dir),
      /hostnames\[0\]: hostname a\.test: cannot read the certificate .*missing\.pem: ENOENT/,
    );
    assert.throws(
      () => load([{ host: "a.test", cert: a.keyFile, key: a.keyFile }], dir),
      /hostnames\[0\]: hostname a\.test: the certificate is not a PEM X\.509 certificate/,
    );
    assert.throws(
      () => load([{ host: "a.test", cert: a.certFile, key: wild.keyFile }], dir),
      /hostnames\[0\]: hostname a\.test: the key does not belong to the certificate/,
    );
  });

  it("changes its fingerprint exactly when the material changes", () => {
    const one = load([{ host: "a.test", cert: a.certFile, key: a.keyFile }], dir)!;
    const same = load([{ host: "a.test", cert: a.cert, key: a.key }], dir)!;
    const other = load([{ host: "*.w.test", cert: wild.certFile, key: wild.keyFile }], dir)!;
    assert.equal(one.fingerprint, same.fingerprint);
    assert.notEqual(one.fingerprint, other.fingerprint);
  });
});
