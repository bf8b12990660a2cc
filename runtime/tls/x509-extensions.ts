/**
 * The X.509 extensions that chain validation needs and node:crypto does not give the same way on
 * every runtime, read from the certificate's DER. `X509Certificate.ca` is right everywhere, but
 * `keyUsage` is the extended key usage on Node and Bun and the (basic) key usage on Deno, and no
 * runtime exposes `pathLenConstraint` or which extensions are critical (measured with Node 20,
 * Bun 1.4, Deno 2.9). So these few extensions are read here, with a strict DER reader that throws
 * on anything malformed; names, signatures, issuance and validity stay with node:crypto.
 */

/** Extension OIDs (RFC 5280 §4.2.1). */
export const OID = {
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  certificatePolicies: "2.5.29.32",
  /** Extended key usage purposes. */
  clientAuth: "1.3.6.1.5.5.7.3.2",
  anyExtendedKeyUsage: "2.5.29.37.0",
} as const;

/** Key usage bits (RFC 5280 §4.2.1.3) that chain validation looks at. */
export const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5 } as const;

/**
 * Critical extensions whose meaning is taken into account: basic constraints, key usage and
 * extended key usage are checked; subject alternative names are only shown; certificate policies are
 * accepted without a policy being required (Portico asks for none). Any other critical extension
 * (name constraints, policy constraints, ...) makes the certificate unusable for Portico, as RFC 5280
 * §6.1.3 asks of a validator that does not process it.
 */
const UNDERSTOOD_CRITICAL: ReadonlySet<string> = new Set([OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.subjectAltName, OID.certificatePolicies]);

/** What chain validation needs from one certificate's extensions; an absent extension is undefined. */
export interface CertificateExtensions {
  /** `basicConstraints`: whether the subject is a CA, and how many intermediate CAs may follow it. */
  readonly basicConstraints?: { readonly ca: boolean; readonly pathLength?: number };
  /** `keyUsage`: whether the bit (see KEY_USAGE) is set. */
  readonly keyUsage?: (bit: number) => boolean;
  /** `extKeyUsage`: the purposes (OIDs). */
  readonly extendedKeyUsage?: readonly string[];
  /** OIDs of critical extensions outside the ones understood here. */
  readonly unhandledCritical: readonly string[];
}

/** A DER element: its tag, where its content starts and ends, and where the next element starts. */
interface Element {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

const TAG = { boolean: 0x01, integer: 0x02, bitString: 0x03, octetString: 0x04, oid: 0x06, sequence: 0x30, extensions: 0xa3 } as const;

/** Reads the element at `at`, which must end by `limit`; throws on a malformed or unsupported encoding. */
function element(der: Uint8Array, at: number, limit: number): Element {
  if (at + 2 > limit) throw new Error("truncated DER");
  const tag = der[at]!;
  if ((tag & 0x1f) === 0x1f) throw new Error("multi-byte DER tag");
  let length = der[at + 1]!;
  let start = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4) throw new Error("unsupported DER length");
    if (start + bytes > limit) throw new Error("truncated DER");
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[start + i]!;
    start += bytes;
  }
  const end = start + length;
  if (end > limit) throw new Error("DER element longer than its container");
  return { tag, start, end };
}

/** The elements inside a constructed element, in order. */
function children(der: Uint8Array, parent: Element): Element[] {
  const out: Element[] = [];
  for (let at = parent.start; at < parent.end;) {
    const child = element(der, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

function expect(el: Element | undefined, tag: number, what: string): Element {
  if (!el || el.tag !== tag) throw new Error(`expected ${what}`);
  return el;
}

/** An OBJECT IDENTIFIER's dotted text. */
function oid(der: Uint8Array, el: Element): string {
  const arcs: number[] = [];
  let value = 0;
  for (let i = el.start; i < el.end; i++) {
    const byte = der[i]!;
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new Error("OID arc too large");
    if (byte & 0x80) continue;
    if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
    else arcs.push(value);
    value = 0;
  }
  if (arcs.length === 0 || der[el.end - 1]! & 0x80) throw new Error("malformed OID");
  return arcs.join(".");
}

/** A non-negative INTEGER small enough for a path length. */
function smallInteger(der: Uint8Array, el: Element): number {
  if (el.end - el.start < 1 || el.end - el.start > 4 || der[el.start]! & 0x80) throw new Error("path length out of range");
  let value = 0;
  for (let i = el.start; i < el.end; i++) value = value * 256 + der[i]!;
  return value;
}

function readBasicConstraints(der: Uint8Array, value: Element): CertificateExtensions["basicConstraints"] {
  const fields = children(der, expect(value, TAG.sequence, "basicConstraints SEQUENCE"));
  let ca = false;
  let pathLength: number | undefined;
  let i = 0;
  if (fields[i]?.tag === TAG.boolean) ca = der[fields[i++]!.start] !== 0;
  if (fields[i]?.tag === TAG.integer) pathLength = smallInteger(der, fields[i++]!);
  if (i !== fields.length) throw new Error("malformed basicConstraints");
  return { ca, pathLength };
}

function readKeyUsage(der: Uint8Array, value: Element): (bit: number) => boolean {
  const bits = expect(value, TAG.bitString, "keyUsage BIT STRING");
  if (bits.end - bits.start < 1) throw new Error("malformed keyUsage");
  const bytes = der.subarray(bits.start + 1, bits.end);
  return (bit) => ((bytes[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) !== 0;
}

function readExtendedKeyUsage(der: Uint8Array, value: Element): string[] {
  return children(der, expect(value, TAG.sequence, "extKeyUsage SEQUENCE")).map((el) => oid(der, expect(el, TAG.oid, "a purpose OID")));
}

/**
 * Reads a certificate's basic constraints, key usage and extended key usage, and names its critical
 * extensions Portico does not understand. Throws on malformed DER or an extension given twice.
 */
export function readExtensions(der: Uint8Array): CertificateExtensions {
  const certificate = expect(element(der, 0, der.length), TAG.sequence, "a Certificate SEQUENCE");
  const tbs = expect(children(der, certificate)[0], TAG.sequence, "a TBSCertificate SEQUENCE");
  const wrapper = children(der, tbs).find((el) => el.tag === TAG.extensions);
  const result: { -readonly [K in keyof CertificateExtensions]: CertificateExtensions[K] } = { unhandledCritical: [] };
  if (!wrapper) return result;
  const seen = new Set<string>();
  const unhandled: string[] = [];
  for (const extension of children(der, expect(children(der, wrapper)[0], TAG.sequence, "an Extensions SEQUENCE"))) {
    const parts = children(der, expect(extension, TAG.sequence, "an Extension SEQUENCE"));
    const id = oid(der, expect(parts[0], TAG.oid, "an extension OID"));
    let i = 1;
    const critical = parts[i]?.tag === TAG.boolean ? der[parts[i++]!.start] !== 0 : false;
    const wrapped = expect(parts[i], TAG.octetString, "an extension value");
    if (seen.has(id)) throw new Error(`extension ${id} appears twice`);
    seen.add(id);
    const value = element(der, wrapped.start, wrapped.end);
    if (value.end !== wrapped.end) throw new Error(`trailing bytes in extension ${id}`);
    if (id === OID.basicConstraints) result.basicConstraints = readBasicConstraints(der, value);
    else if (id === OID.keyUsage) result.keyUsage = readKeyUsage(der, value);
    else if (id === OID.extKeyUsage) result.extendedKeyUsage = readExtendedKeyUsage(der, value);
    if (critical && !UNDERSTOOD_CRITICAL.has(id)) unhandled.push(id);
  }
  result.unhandledCritical = unhandled;
  return result;
}
