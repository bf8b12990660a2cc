import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

/** A hostnames entry of the configuration: PEM text or a file path for each of cert and key. */
export interface HostnameConfig {
  readonly host: string;
  readonly cert: string;
  readonly key: string;
}

const PEM = /^\s*-----BEGIN /;

/** Whether a `cert` or `key` value is PEM text rather than a file path. */
export function isPem(value: string): boolean {
  return PEM.test(value);
}

function pemOrFile(value: string, baseDir: string, what: string, host: string): string {
  if (PEM.test(value)) return value;
  const file = resolve(baseDir, value);
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`hostname ${host}: cannot read the ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/**
 * Reads one hostnames entry (PEM text or files relative to `baseDir`) and checks it: both parse,
 * and the key belongs to the certificate. Throws an Error naming the host name and the file.
 */
export function readCertificatePair(entry: HostnameConfig, baseDir: string): { cert: string; key: string; notAfter: number } {
  const cert = pemOrFile(entry.cert, baseDir, "certificate", entry.host);
  const key = pemOrFile(entry.key, baseDir, "key", entry.host);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`hostname ${entry.host}: the certificate is not a PEM X.509 certificate (${(error as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new Error(`hostname ${entry.host}: the key is not a PEM private key (${(error as Error).message.split("\n")[0]})`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new Error(`hostname ${entry.host}: the key does not belong to the certificate (${x509.subject.replace(/\n/g, ", ")})`);
  return { cert, key, notAfter: Date.parse(x509.validTo) };
}
