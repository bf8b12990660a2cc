import { createHash } from "node:crypto";
import type { X509Certificate } from "node:crypto";
import type { HostnameSpec } from "../../config/snapshot/build.ts";

/** One host name's certificate chain and private key, as PEM text. */
export interface ServerCertificate {
  /** `api.example.com`, or `*.example.com` for one label under it. */
  readonly host: string;
  readonly cert: string;
  readonly key: string;
  /** When the leaf certificate expires (ms since the epoch). */
  readonly notAfter: number;
  /** Whether clients of this host name are asked for a certificate. */
  readonly negotiate: boolean;
  /** CA certificates that client certificates of this host name are checked against. */
  readonly clientCas?: readonly X509Certificate[];
}

/**
 * The server certificates of one configuration, chosen by SNI: an exact host name first, then a
 * `*.suffix` wildcard (one label), else the default, the first entry. Loaded (files read, keys
 * checked against certificates) when the configuration compiles, so a bad certificate is a
 * configuration problem and never reaches the listener.
 */
export class CertificateSet {
  readonly #exact = new Map<string, ServerCertificate>();
  readonly #wildcard = new Map<string, ServerCertificate>();

  private constructor(
    readonly entries: readonly ServerCertificate[],
    /** sha256 over every entry: equal fingerprints mean the listener needs no update. */
    readonly fingerprint: string,
  ) {
    for (const entry of entries) {
      if (entry.host.startsWith("*.")) this.#wildcard.set(entry.host.slice(2), entry);
      else this.#exact.set(entry.host, entry);
    }
  }

  /** The set of a snapshot's host names (read and checked when the snapshot was built); undefined without any. */
  static from(hostnames: readonly HostnameSpec[]): CertificateSet | undefined {
    if (hostnames.length === 0) return undefined;
    const entries = hostnames.map((h) => ({
      host: h.host,
      cert: h.cert,
      key: h.key,
      notAfter: h.notAfter,
      negotiate: h.negotiateClientCertificate,
      clientCa: h.clientCa?.pem,
      clientCas: h.clientCa?.certificates,
    }));
    const hash = createHash("sha256");
    for (const e of entries) hash.update(`${e.host}\0${e.cert}\0${e.key}\0${e.negotiate}\0${e.clientCa ?? ""}\0`);
    return new CertificateSet(entries, hash.digest("hex"));
  }

  /** Whether any host name asks clients for a certificate (the listener then requests one). */
  get negotiates(): boolean {
    return this.entries.some((e) => e.negotiate);
  }

  /** The certificate used when the client sends no SNI or an unknown name. */
  get default(): ServerCertificate {
    return this.entries[0]!;
  }

  /** The certificate for a server name from SNI (case-insensitive), or the default. */
  find(servername: string | undefined): ServerCertificate {
    if (!servername) return this.default;
    const name = servername.toLowerCase();
    const exact = this.#exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf(".");
    return (dot > 0 && this.#wildcard.get(name.slice(dot + 1))) || this.default;
  }
}
