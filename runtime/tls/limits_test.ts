import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveSettings, type Settings } from "../../config/schema/settings.ts";
import type { TlsCapabilities } from "../server/adapter.ts";
import { DEFAULT_SUITES } from "../../config/schema/tls.ts";
import { resolveClientTls, resolveServerTls } from "./limits.ts";

const FULL: TlsCapabilities = { minVersions: ["TLSv1.2", "TLSv1.3"], restrictTls12Suites: true, restrictTls13Suites: true, capAtTls12: true };
const NO_TLS13_SUITES: TlsCapabilities = { ...FULL, restrictTls13Suites: false };
/** A runtime that cannot restrict suites and offers Portico's defaults anyway (Deno's listener). */
const FIXED: TlsCapabilities = {
  minVersions: ["TLSv1.2"],
  restrictTls12Suites: false,
  restrictTls13Suites: false,
  capAtTls12: false,
  ownSuites: [...DEFAULT_SUITES],
};
/** One that cannot restrict them and offers a CBC suite too. */
const FIXED_WEAK: TlsCapabilities = { ...FIXED, ownSuites: [...DEFAULT_SUITES, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"] };
/** One that cannot restrict them and whose suites were never measured. */
const FIXED_UNKNOWN: TlsCapabilities = { ...FIXED, ownSuites: undefined };

/** Portico's default suites as OpenSSL names: ECDHE with AES-GCM or ChaCha20-Poly1305 only. */
const DEFAULT_TLS12 =
  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
const DEFAULT_TLS13 = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

function settings(values: Record<string, string>): Settings {
  const result = resolveSettings(values, {});
  if (!result.ok) assert.fail(JSON.stringify(result.problems));
  return result.settings;
}

const SUITES = "net.server.tls.ciphers.allowed-suites";

describe("resolveServerTls", () => {
  it("applies Portico's default suites when nothing is set, without capping TLS 1.3", () => {
    for (const caps of [FULL, NO_TLS13_SUITES]) {
      const result = resolveServerTls(settings({}), caps, "node");
      assert.ok(result.ok);
      assert.equal(result.limits.suites?.tls12, DEFAULT_TLS12);
      assert.equal(result.limits.suites?.tls13, DEFAULT_TLS13);
      assert.equal(result.limits.maxVersion, undefined);
      assert.deepEqual(result.notes, []);
    }
  });

  it("keeps the runtime's own suites when it cannot restrict them and they are among the defaults, else refuses to start", () => {
    assert.deepEqual(resolveServerTls(settings({}), FIXED, "deno"), { ok: true, limits: { minVersion: "TLSv1.2" }, notes: [] });
    const weak = resolveServerTls(settings({}), FIXED_WEAK, "some runtime");
    assert.ok(!weak.ok);
    assert.deepEqual(weak.problems, [
      `${SUITES}: the HTTPS listener on some runtime cannot restrict cipher suites and offers suites outside Portico's defaults (TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA); run the gateway on Bun or Node`,
    ]);
    assert.equal(resolveServerTls(settings({}), FIXED_UNKNOWN, "x").ok, false);
  });

  it("refuses what a runtime cannot honour, naming the setting", () => {
    const result = resolveServerTls(settings({ "net.server.tls.min-version": "TLSv1.3", [SUITES]: "TLS_AES_128_GCM_SHA256" }), FIXED, "deno 2");
    assert.ok(!result.ok);
    assert.deepEqual(result.problems, [
      "net.server.tls.min-version: TLSv1.3 cannot be enforced by the HTTPS listener on deno 2 (it can: TLSv1.2)",
      `${SUITES}: the HTTPS listener on deno 2 cannot restrict cipher suites: it always offers TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 with TLS 1.2, and the list leaves out TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256; list them all, remove the setting, or run the gateway on Bun or Node`,
      `${SUITES}: the HTTPS listener on deno 2 cannot restrict TLS 1.3 suites, and the list leaves out TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256`,
    ]);
    const unmeasured = resolveServerTls(settings({ [SUITES]: DEFAULT_SUITES.join(",") }), FIXED_UNKNOWN, "x");
    assert.ok(!unmeasured.ok);
    assert.deepEqual(unmeasured.problems, [
      `${SUITES}: the HTTPS listener on x cannot restrict cipher suites; remove the setting or run the gateway on Bun or Node`,
    ]);
  });

  it("accepts, where suites cannot be restricted, a list that allows every suite the runtime offers anyway", () => {
    const wider = resolveServerTls(settings({ [SUITES]: `${DEFAULT_SUITES.join(",")},TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA` }), FIXED, "deno");
    assert.deepEqual(wider, { ok: true, limits: { minVersion: "TLSv1.2", maxVersion: undefined, suites: undefined }, notes: [] });
  });

  it("caps at TLS 1.2 where TLS 1.3 suites cannot be restricted, and says so", () => {
    const result = resolveServerTls(settings({ [SUITES]: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256" }), NO_TLS13_SUITES, "bun");
    assert.ok(result.ok);
    assert.equal(result.limits.maxVersion, "TLSv1.2");
    assert.match(result.notes[0]!, /TLS 1\.3 is off on the HTTPS listener on bun: TLS 1\.3 suites cannot be restricted there/);
    // Where they can be restricted, no cap.
    const full = resolveServerTls(settings({ [SUITES]: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256" }), FULL, "node");
    assert.ok(full.ok);
    assert.equal(full.limits.maxVersion, undefined);
    assert.equal(full.limits.suites?.tls12, "ECDHE-RSA-AES128-GCM-SHA256");
    assert.equal(full.limits.suites?.tls13, "TLS_AES_128_GCM_SHA256");
  });

  it("turns TLS 1.3 off when no TLS 1.3 suite is allowed, and refuses lists that would lock clients out", () => {
    const only12 = resolveServerTls(settings({ [SUITES]: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" }), FULL, "node");
    assert.ok(only12.ok);
    assert.equal(only12.limits.maxVersion, "TLSv1.2");
    const only13 = resolveServerTls(settings({ [SUITES]: "TLS_AES_128_GCM_SHA256" }), FULL, "node");
    assert.ok(!only13.ok);
    assert.match(
      only13.problems[0]!,
      /no TLS 1\.2 suite is allowed, so TLS 1\.2 peers could not connect: add one, or set net\.server\.tls\.min-version to TLSv1\.3/,
    );
    assert.ok(resolveServerTls(settings({ [SUITES]: "TLS_AES_128_GCM_SHA256", "net.server.tls.min-version": "TLSv1.3" }), FULL, "node").ok);
  });
});

describe("resolveClientTls", () => {
  it("applies Portico's default suites to backend connections when nothing is set", () => {
    const result = resolveClientTls(settings({}), FULL, "node");
    assert.ok(result.ok);
    assert.equal(result.limits.suites?.tls12, DEFAULT_TLS12);
    assert.equal(result.limits.suites?.tls13, DEFAULT_TLS13);
    assert.equal(result.limits.maxVersion, undefined);
  });

  it("restricts backend connections the same way, capping at TLS 1.2 where TLS 1.3 suites cannot be restricted", () => {
    const only12 = resolveClientTls(settings({ "net.client.tls.ciphers.allowed-suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" }), FULL, "node");
    assert.deepEqual(only12.ok && only12.limits.maxVersion, "TLSv1.2");
    const partial = resolveClientTls(
      settings({ "net.client.tls.ciphers.allowed-suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256" }),
      NO_TLS13_SUITES,
      "bun",
    );
    assert.ok(partial.ok);
    assert.equal(partial.limits.maxVersion, "TLSv1.2");
    assert.match(partial.notes[0]!, /^TLS 1\.3 is off on backend connections on bun/);
    const only13 = resolveClientTls(settings({ "net.client.tls.ciphers.allowed-suites": "TLS_AES_128_GCM_SHA256" }), FULL, "node");
    assert.ok(!only13.ok);
    assert.equal(only13.problems[0], "net.client.tls.ciphers.allowed-suites: no TLS 1.2 suite is allowed, so TLS 1.2 peers could not connect: add one");
  });
});
