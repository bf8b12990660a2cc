/**
 * Throwaway certificates for TLS tests, made with Debian's openssl: a CA, intermediate CAs, and leaf
 * certificates they sign for given host names (EC P-256 unless RSA is asked for, valid two days).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A certificate and its key, as files and as PEM text. */
export interface IssuedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new Error("openssl is not installed (Debian package openssl)");
    throw new Error(`openssl ${args.join(" ")} failed: ${(error as { stderr?: Buffer }).stderr?.toString() ?? error}`);
  }
}

function read(dir: string, name: string): IssuedCertificate {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
}

/** A self-signed CA in `dir` named `name` (files `name.pem`, `name.key`). */
export function makeCa(dir: string, name = "ca"): IssuedCertificate {
  openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-subj",
    `/CN=Portico test ${name}`,
  ], dir);
  return read(dir, name);
}

/** How a leaf certificate is made. */
export interface IssueOptions {
  /** The key type: EC P-256 (default) or RSA 2048 (which static-RSA suites need). */
  readonly keyType?: "ec" | "rsa";
  /** The extended key usage extension's value, or null for none (default `serverAuth,clientAuth`). */
  readonly extendedKeyUsage?: string | null;
}

const NEW_KEY = { ec: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], rsa: ["-newkey", "rsa:2048"] };

/** A leaf certificate for `host` (and any extra names; `IP:…` for addresses) signed by `ca`, in `dir` as `file.pem` / `file.key`. */
export function issue(
  dir: string,
  ca: IssuedCertificate,
  host: string,
  file = host.replace(/\*/g, "star"),
  extraNames: string[] = [],
  options: IssueOptions = {},
): IssuedCertificate {
  const names = [host, ...extraNames].map((n) => (n.startsWith("IP:") ? n : `DNS:${n}`)).join(",");
  const eku = options.extendedKeyUsage === undefined ? "serverAuth,clientAuth" : options.extendedKeyUsage;
  writeFileSync(join(dir, `${file}.ext`), `subjectAltName=${names}\nbasicConstraints=CA:FALSE\n${eku === null ? "" : `extendedKeyUsage=${eku}\n`}`);
  openssl(["req", ...NEW_KEY[options.keyType ?? "ec"], "-nodes", "-keyout", `${file}.key`, "-out", `${file}.csr`, "-subj", `/CN=${host}`], dir);
  openssl([
    "x509",
    "-req",
    "-in",
    `${file}.csr`,
    "-CA",
    ca.certFile,
    "-CAkey",
    ca.keyFile,
    "-CAcreateserial",
    "-out",
    `${file}.pem`,
    "-days",
    "2",
    "-extfile",
    `${file}.ext`,
  ], dir);
  return read(dir, file);
}

/** The extensions of an intermediate CA; the defaults make a proper one. */
export interface IntermediateOptions {
  /** `basicConstraints` (default `critical,CA:TRUE`); null leaves the extension out. */
  readonly basicConstraints?: string | null;
  /** `keyUsage` (default `critical,keyCertSign,cRLSign`); null leaves the extension out. */
  readonly keyUsage?: string | null;
  /** More extension lines, e.g. `nameConstraints=critical,permitted;DNS:example.com`. */
  readonly extra?: string;
}

/** An intermediate CA named `name` in `dir` (`name.pem`, `name.key`), signed by `issuer`. */
export function makeIntermediate(dir: string, issuer: IssuedCertificate, name: string, options: IntermediateOptions = {}): IssuedCertificate {
  const basic = options.basicConstraints === undefined ? "critical,CA:TRUE" : options.basicConstraints;
  const usage = options.keyUsage === undefined ? "critical,keyCertSign,cRLSign" : options.keyUsage;
  const ext = [
    basic === null ? "" : `basicConstraints=${basic}\n`,
    usage === null ? "" : `keyUsage=${usage}\n`,
    options.extra ? `${options.extra}\n` : "",
    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
  ].join("");
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(["req", ...NEW_KEY.ec, "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=Portico test ${name}`], dir);
  openssl([
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    issuer.certFile,
    "-CAkey",
    issuer.keyFile,
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
  ], dir);
  return read(dir, name);
}

/**
 * `leaf` with `chain` appended in one PEM file (`file.pem`, the key stays the leaf's): what a client
 * that sends its intermediates is given (curl --cert sends every certificate of the file).
 */
export function withChain(dir: string, leaf: IssuedCertificate, chain: readonly IssuedCertificate[], file: string): IssuedCertificate {
  const certFile = join(dir, `${file}.pem`);
  const cert = [leaf.cert, ...chain.map((c) => c.cert)].join("");
  writeFileSync(certFile, cert);
  return { certFile, keyFile: leaf.keyFile, cert, key: leaf.key };
}

/** One PEM file `file.pem` in `dir` holding `certificates`, e.g. a clientCa bundle. */
export function bundle(dir: string, certificates: readonly IssuedCertificate[], file: string): string {
  const path = join(dir, `${file}.pem`);
  writeFileSync(path, certificates.map((c) => c.cert).join(""));
  return path;
}
