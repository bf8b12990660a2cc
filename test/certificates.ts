/**
 * Throwaway certificates for TLS tests, made with Debian's openssl: a CA, and leaf certificates it
 * signs for given host names (EC P-256 unless RSA is asked for, valid two days).
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
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", `/CN=Portico test ${name}`], dir);
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
export function issue(dir: string, ca: IssuedCertificate, host: string, file = host.replace(/\*/g, "star"), extraNames: string[] = [], options: IssueOptions = {}): IssuedCertificate {
  const names = [host, ...extraNames].map((n) => (n.startsWith("IP:") ? n : `DNS:${n}`)).join(",");
  const eku = options.extendedKeyUsage === undefined ? "serverAuth,clientAuth" : options.extendedKeyUsage;
  writeFileSync(join(dir, `${file}.ext`), `subjectAltName=${names}\nbasicConstraints=CA:FALSE\n${eku === null ? "" : `extendedKeyUsage=${eku}\n`}`);
  openssl(["req", ...NEW_KEY[options.keyType ?? "ec"], "-nodes", "-keyout", `${file}.key`, "-out", `${file}.csr`, "-subj", `/CN=${host}`], dir);
  openssl(["x509", "-req", "-in", `${file}.csr`, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-CAcreateserial", "-out", `${file}.pem`, "-days", "2", "-extfile", `${file}.ext`], dir);
  return read(dir, file);
}
