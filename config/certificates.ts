import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describeError } from "./schema/problems.ts";

/** A hostnames entry of the configuration: PEM text or a file path for each of cert and key. */
export interface HostnameConfig {
  readonly host: string;
  readonly cert: string;
  readonly key: string;
  readonly negotiateClientCertificate?: boolean;
  /** CA certificates for client certificates (PEM text or a file). */
  readonly clientCa?: string;
}

/** Reads a bundle of CA certificates (PEM text or a file): every certificate in it, parsed. */
export function readCaBundle(value: string, baseDir: string, label: string): { pem: string; certificates: X509Certificate[] } {
  const pem = pemOrFile(value, baseDir, "CA certificates", label);
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${label}: no PEM certificate in the CA certificates`);
  try {
    return { pem, certificates: blocks.map((b) => new X509Certificate(b)) };
  } catch (error) {
    throw new Error(`${label}: a CA certificate does not parse (${describeError(error)})`);
  }
}

const PEM = /^\s*-----BEGIN /;

/** Whether a `cert` or `key` value is PEM text rather than a file path. */
export function isPem(value: string): boolean {
  return PEM.test(value);
}

function pemOrFile(value: string, baseDir: string, what: string, label: string): string {
  if (PEM.test(value)) return value;
  const file = resolve(baseDir, value);
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`${label}: cannot read the ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`);
  }
}

/**
 * Reads one hostnames entry (PEM text or files relative to `baseDir`) and checks it: both parse,
 * and the key belongs to the certificate. Throws an Error naming the host name and the file.
 */
export function readCertificatePair(entry: HostnameConfig, baseDir: string, label = `hostname ${entry.host}`): { cert: string; key: string; notAfter: number } {
  const cert = pemOrFile(entry.cert, baseDir, "certificate", label);
  const key = pemOrFile(entry.key, baseDir, "key", label);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`${label}: the certificate is not a PEM X.509 certificate (${describeError(error)})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new Error(`${label}: the key is not a PEM private key (${describeError(error).split("\n")[0]})`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new Error(`${label}: the key does not belong to the certificate (${x509.subject.replace(/\n/g, ", ")})`);
  return { cert, key, notAfter: Date.parse(x509.validTo) };
}

/** A backend's TLS options with every file read: what the upstream clients are given. */
export interface BackendTlsMaterial {
  /** Trusted CA certificates (PEM), instead of the runtime's defaults. */
  readonly ca?: string;
  /** Client certificate and key (PEM) for mutual TLS. */
  readonly cert?: string;
  readonly key?: string;
  readonly verify: boolean;
  /** Server name to send and check, when not the URL's host. */
  readonly sni?: string;
  /** sha256 over all of it: equal material can share connections. */
  readonly fingerprint: string;
}

/** The options of a backend's `tls:` section, as written (PEM text or file paths). */
export interface BackendTlsConfig {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly verify: boolean;
  readonly sni?: string;
}

/**
 * Reads a backend's TLS files (relative to `baseDir`) and checks them: the CA parses, and a client
 * key belongs to its certificate. Throws an Error naming the backend and the file.
 */
export function readBackendTls(backend: string, tls: BackendTlsConfig, baseDir: string): BackendTlsMaterial {
  const label = `backend ${backend}`;
  let ca: string | undefined;
  if (tls.ca !== undefined) {
    ca = pemOrFile(tls.ca, baseDir, "CA certificates", label);
    try {
      new X509Certificate(ca);
    } catch (error) {
      throw new Error(`${label}: tls.ca is not a PEM X.509 certificate (${describeError(error)})`);
    }
  }
  const client = tls.cert !== undefined && tls.key !== undefined
    ? readCertificatePair({ host: backend, cert: tls.cert, key: tls.key }, baseDir, `${label} (tls.cert)`)
    : undefined;
  const fingerprint = createHash("sha256").update(JSON.stringify([ca, client?.cert, client?.key, tls.verify, tls.sni])).digest("hex");
  return { ca, cert: client?.cert, key: client?.key, verify: tls.verify, sni: tls.sni, fingerprint };
}
