import type { X509Certificate } from "node:crypto";
import { type CertificateExtensions, KEY_USAGE, OID, readExtensions } from "./x509-extensions.ts";
import { describeError } from "../../config/schema/problems.ts";

/**
 * Whether a client certificate chains to a configured CA, and if not, why (a phrase that completes
 * "The client certificate is not trusted: …", naming the leaf "it"). `path` runs from the leaf to
 * the configured CA that ends it.
 */
export type ChainVerdict = { readonly trusted: true; readonly path: readonly X509Certificate[] } | { readonly trusted: false; readonly reason: string };

/** Certificates above the leaf a path may have (intermediates and the configured CA). */
const MAX_DEPTH = 8;
/** Certificates the client sent that are looked at (the rest are ignored). */
const MAX_PRESENTED = 16;
/** Issuer candidates tried per chain (name check and signature), so a hostile bundle costs bounded work. */
const MAX_CANDIDATES = 64;

/** A certificate's subject on one line, for messages: `CN=Partner CA, O=Example`. */
function name(cert: X509Certificate): string {
  return cert.subject.split("\n").filter(Boolean).join(", ");
}

/** Whether extended key usage, when present, allows client authentication. */
function allowsClientAuth(ext: CertificateExtensions): boolean {
  return !ext.extendedKeyUsage || ext.extendedKeyUsage.includes(OID.clientAuth) || ext.extendedKeyUsage.includes(OID.anyExtendedKeyUsage);
}

/** Extensions of each certificate, read once per verification. */
class ExtensionCache {
  readonly #byCert = new Map<X509Certificate, CertificateExtensions>();
  get(cert: X509Certificate): CertificateExtensions {
    let ext = this.#byCert.get(cert);
    if (!ext) this.#byCert.set(cert, ext = readExtensions(cert.raw));
    return ext;
  }
}

/** Why the leaf itself cannot authenticate a client, or undefined. */
function leafProblem(ext: CertificateExtensions): string | undefined {
  if (ext.unhandledCritical.length) return `it has a critical extension Portico does not process (${ext.unhandledCritical.join(", ")})`;
  if (!allowsClientAuth(ext)) return "its extended key usage does not include client authentication (clientAuth)";
  if (ext.keyUsage && !ext.keyUsage(KEY_USAGE.digitalSignature)) return "its key usage does not include digitalSignature";
  return undefined;
}

/**
 * Why `issuer` may not sign the certificate below it in a path where `below` intermediate CAs
 * already sit between it and the leaf, or undefined: it must be a CA (basicConstraints CA:TRUE),
 * allow certificate signing when it has a key usage, allow client authentication when it has an
 * extended key usage (as OpenSSL requires of every certificate in a client chain), respect its path
 * length, have no critical extension Portico does not process, and be within its validity period.
 */
function issuerProblem(issuer: X509Certificate, ext: CertificateExtensions, below: number, now: number): string | undefined {
  const who = `the issuer ${name(issuer)}`;
  if (!ext.basicConstraints?.ca) return `${who} is not a CA (basicConstraints CA:TRUE is missing)`;
  if (ext.keyUsage && !ext.keyUsage(KEY_USAGE.keyCertSign)) return `${who} may not sign certificates (its key usage lacks keyCertSign)`;
  if (ext.basicConstraints.pathLength !== undefined && below > ext.basicConstraints.pathLength) {
    return `${who} allows ${ext.basicConstraints.pathLength} intermediate CA(s) below it (pathLenConstraint), the chain has ${below}`;
  }
  if (!allowsClientAuth(ext)) return `${who}'s extended key usage does not include client authentication (clientAuth)`;
  if (ext.unhandledCritical.length) return `${who} has a critical extension Portico does not process (${ext.unhandledCritical.join(", ")})`;
  if (now < Date.parse(issuer.validFrom)) return `${who} is not valid yet`;
  if (now > Date.parse(issuer.validTo)) return `${who} has expired`;
  return undefined;
}

/**
 * Builds a chain from `leaf` to one of `anchors` (the host name's `clientCa` certificates, any of
 * which, root or intermediate, ends a chain) through intermediates from `anchors` and from the
 * certificates the client sent (`presented`, untrusted: each link is checked by issuer name and
 * signature with node:crypto's `checkIssued` and `verify`). Every issuer on the path is checked by
 * `issuerProblem`; the leaf must allow client authentication. Alternatives are tried when a
 * candidate fails (several CAs with the same name, cross-signed intermediates), within a bound.
 * The leaf's own validity period is not part of the verdict (policies check it on their own);
 * revocation (CRL, OCSP) is not checked.
 */
export function verifyClientChain(
  leaf: X509Certificate,
  presented: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  now: number,
): ChainVerdict {
  if (anchors.length === 0) return { trusted: false, reason: "no clientCa is configured for this host name" };
  const extensions = new ExtensionCache();
  let leafExt: CertificateExtensions;
  try {
    leafExt = extensions.get(leaf);
  } catch (error) {
    return { trusted: false, reason: `its extensions do not parse (${describeError(error)})` };
  }
  const leafIssue = leafProblem(leafExt);
  if (leafIssue) return { trusted: false, reason: leafIssue };

  const anchorPrints = new Set(anchors.map((a) => a.fingerprint256));
  const pool = [...anchors, ...presented.slice(0, MAX_PRESENTED).filter((c) => !anchorPrints.has(c.fingerprint256))];
  let budget = MAX_CANDIDATES;
  // The most specific problem met, reported when no path works.
  let problem: string | undefined;

  const extend = (path: X509Certificate[]): X509Certificate[] | undefined => {
    const current = path[path.length - 1]!;
    for (const candidate of pool) {
      if (path.some((c) => c.fingerprint256 === candidate.fingerprint256)) continue;
      if (budget-- <= 0) {
        problem = "the certificates the client sent are too many or too tangled to build a chain from";
        return undefined;
      }
      if (!current.checkIssued(candidate) || !current.verify(candidate.publicKey)) continue;
      let ext: CertificateExtensions;
      try {
        ext = extensions.get(candidate);
      } catch (error) {
        problem = `the extensions of the issuer ${name(candidate)} do not parse (${describeError(error)})`;
        continue;
      }
      const issue = issuerProblem(candidate, ext, path.length - 1, now);
      if (issue) {
        problem = issue;
        continue;
      }
      const next = [...path, candidate];
      if (anchorPrints.has(candidate.fingerprint256)) return next;
      if (next.length <= MAX_DEPTH) {
        const found = extend(next);
        if (found) return found;
      } else problem = `the chain is longer than ${MAX_DEPTH} certificates`;
    }
    return undefined;
  };

  const path = extend([leaf]);
  if (path) return { trusted: true, path };
  return { trusted: false, reason: problem ?? "it is not issued by a configured CA, nor by an intermediate the client sent that chains to one" };
}
