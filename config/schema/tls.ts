/**
 * TLS protocol versions and cipher suites as operators name them (IANA names, as the settings
 * `net.server.tls.ciphers.allowed-suites` and `net.client.tls.ciphers.allowed-suites` take them),
 * with the names OpenSSL (Node, Bun, Deno's node:tls) uses.
 */

/** TLS versions a setting may name, oldest first. */
const TLS_VERSIONS = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const;
/** A TLS protocol version. */
export type TlsVersion = (typeof TLS_VERSIONS)[number];

/** TLS 1.3 suites: OpenSSL uses the IANA names, configured apart from the TLS 1.2 list. */
export const TLS13_SUITES = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"] as const;

/** TLS 1.2 (and older) suites: IANA name → OpenSSL name. The ones OpenSSL 3 still offers by default or on request. */
const TLS12_SUITES: Readonly<Record<string, string>> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256",
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: "ECDHE-ECDSA-AES128-SHA256",
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384: "ECDHE-ECDSA-AES256-SHA384",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: "ECDHE-RSA-AES128-SHA256",
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384: "ECDHE-RSA-AES256-SHA384",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: "ECDHE-ECDSA-AES128-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: "ECDHE-ECDSA-AES256-SHA",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: "ECDHE-RSA-AES128-SHA",
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: "ECDHE-RSA-AES256-SHA",
  TLS_DHE_RSA_WITH_AES_128_GCM_SHA256: "DHE-RSA-AES128-GCM-SHA256",
  TLS_DHE_RSA_WITH_AES_256_GCM_SHA384: "DHE-RSA-AES256-GCM-SHA384",
  TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "DHE-RSA-CHACHA20-POLY1305",
  TLS_RSA_WITH_AES_128_GCM_SHA256: "AES128-GCM-SHA256",
  TLS_RSA_WITH_AES_256_GCM_SHA384: "AES256-GCM-SHA384",
  TLS_RSA_WITH_AES_128_CBC_SHA256: "AES128-SHA256",
  TLS_RSA_WITH_AES_256_CBC_SHA256: "AES256-SHA256",
  TLS_RSA_WITH_AES_128_CBC_SHA: "AES128-SHA",
  TLS_RSA_WITH_AES_256_CBC_SHA: "AES256-SHA",
};

/**
 * Portico's own suites, used on both sides (the HTTPS listener and backend connections) when
 * `allowed-suites` is not set: the three TLS 1.3 suites, and for TLS 1.2 only ECDHE key exchange
 * (forward secrecy) with an AEAD cipher (AES-GCM or ChaCha20-Poly1305), for ECDSA and RSA
 * certificates. Nothing with static-RSA key exchange, CBC, CCM, CCM8, ARIA, Camellia or finite-field
 * DHE is offered unless an operator lists it. Ordered as OpenSSL orders its own defaults (AES-256
 * first), so peers that negotiated with the runtimes' defaults before negotiate the same now.
 */
export const DEFAULT_SUITES: readonly string[] = [
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "TLS_AES_128_GCM_SHA256",
  "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
  "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
  "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
  "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
  "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
];

/** An allow-list of suites split the way OpenSSL takes it. */
export interface CipherSuites {
  /** IANA names as given, in order. */
  readonly names: readonly string[];
  /** OpenSSL names of the TLS 1.2 suites, colon-separated for `ciphers` ("" when none is allowed). */
  readonly tls12: string;
  /** TLS 1.3 suites allowed, colon-separated for `ciphersuites` ("" when none is allowed). */
  readonly tls13: string;
  /** Whether every TLS 1.3 suite is allowed (some runtimes cannot restrict TLS 1.3 suites). */
  readonly allTls13: boolean;
}

/** Turns IANA suite names into OpenSSL's two lists, or names every unknown one (with a suggestion of the spelling). */
export function resolveCipherSuites(names: readonly string[]): { ok: true; suites: CipherSuites } | { ok: false; unknown: string[] } {
  const unknown = names.filter((n) => !(n in TLS12_SUITES) && !(TLS13_SUITES as readonly string[]).includes(n));
  if (unknown.length) return { ok: false, unknown };
  const tls13 = names.filter((n) => (TLS13_SUITES as readonly string[]).includes(n));
  return {
    ok: true,
    suites: {
      names,
      tls12: names.filter((n) => n in TLS12_SUITES).map((n) => TLS12_SUITES[n]).join(":"),
      tls13: tls13.join(":"),
      allTls13: TLS13_SUITES.every((s) => tls13.includes(s)),
    },
  };
}

/** The OpenSSL name of a TLS 1.2 suite, or the TLS 1.3 suite's own name; undefined if unknown. */
export function opensslSuiteName(iana: string): string | undefined {
  return TLS12_SUITES[iana] ?? ((TLS13_SUITES as readonly string[]).includes(iana) ? iana : undefined);
}
