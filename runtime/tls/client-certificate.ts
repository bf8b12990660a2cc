import { X509Certificate } from "node:crypto";
import { verifyClientChain } from "./client-chain.ts";

/** A distinguished name as APIM writes it: `CN=client, O=Example` (Node gives one attribute per line). */
function distinguishedName(text: string): string {
  return text.split("\n").filter(Boolean).join(", ");
}

/**
 * The certificate a client presented on a host name that negotiates client certificates, parsed
 * only when a policy asks (the fields are listed with `portico_client_certificate` in the ABI; most
 * requests on such a host name may never need them). `trusted` means a valid chain from it to one of
 * the host name's `clientCa` certificates, through intermediates the client sent (`chain`) or that
 * are configured in `clientCa` (see verifyClientChain for what is checked); `trust-error` says why
 * not.
 */
export class ClientCertificate {
  #fields: Map<string, string> | undefined;

  constructor(
    private readonly der: Uint8Array,
    /** The other certificates the client sent (DER), in any order: candidate intermediates, untrusted. */
    private readonly chain: readonly Uint8Array[],
    private readonly cas: readonly X509Certificate[] | undefined,
  ) {}

  /** A field's text, or undefined for an unknown field. */
  field(name: string): string | undefined {
    this.#fields ??= this.#parse(Date.now());
    return this.#fields.get(name);
  }

  #parse(now: number): Map<string, string> {
    const cert = new X509Certificate(this.der);
    const notBefore = Date.parse(cert.validFrom);
    const notAfter = Date.parse(cert.validTo);
    const presented: X509Certificate[] = [];
    for (const der of this.chain) {
      try {
        presented.push(new X509Certificate(der));
      } catch {
        // A certificate that does not parse cannot be a link of the chain.
      }
    }
    const verdict = verifyClientChain(cert, presented, this.cas ?? [], now);
    const dnsNames = (cert.subjectAltName ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.startsWith("DNS:"))
      .map((s) => s.slice(4));
    return new Map<string, string>([
      ["thumbprint", cert.fingerprint.replace(/:/g, "").toUpperCase()],
      ["serial-number", cert.serialNumber.toUpperCase()],
      ["subject", distinguishedName(cert.subject)],
      ["common-name", /^CN=(.*)$/m.exec(cert.subject)?.[1] ?? ""],
      ["issuer-subject", distinguishedName(cert.issuer)],
      ["dns-names", dnsNames.join(",")],
      ["not-before", new Date(notBefore).toISOString()],
      ["not-after", new Date(notAfter).toISOString()],
      ["expired", String(now > notAfter)],
      ["not-yet-valid", String(now < notBefore)],
      ["trusted", String(verdict.trusted)],
      ["trust-error", verdict.trusted ? "" : verdict.reason],
    ]);
  }
}
