// Text helpers of the SDK that need nothing from the host: percent-encoding and JSON escaping for
// templates (index.ts `Template`), and a comparison of secrets that takes the same time wherever
// they differ. index.ts exports them to policies.
const HEX = "0123456789ABCDEF";

/**
 * Percent-encodes UTF-8 text: everything but unreserved characters (RFC 3986), and, when `path` is
 * true, also leaves `/` and the sub-delimiters, `:` and `@` that a path segment may carry.
 */
export function percentEncode(value: string, path: bool): string {
  const bytes = Uint8Array.wrap(String.UTF8.encode(value));
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    const unreserved = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x2d || b == 0x2e || b == 0x5f || b == 0x7e;
    const inPath = path && (b == 0x2f || b == 0x21 || b == 0x24 || (b >= 0x26 && b <= 0x2c) || b == 0x3b || b == 0x3d || b == 0x3a || b == 0x40);
    if (unreserved || inPath) out += String.fromCharCode(b);
    else out += "%" + HEX.charAt(b >> 4) + HEX.charAt(b & 15);
  }
  return out;
}

/** Escapes text for a JSON string literal. */
export function jsonEscape(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n").replaceAll("\r", "\\r").replaceAll("\t", "\\t");
}

/**
 * Whether `given` (a value from the request) equals `secret` (an API key, a token), compared in
 * constant time: every code unit of `given` is compared whatever the first difference, so how long
 * a refusal takes does not tell a client how much of a secret it guessed right (`==` stops at the
 * first difference). The number of steps follows `given`'s length; the result does not depend on
 * which argument is which.
 */
export function constantTimeEquals(given: string, secret: string): bool {
  const length = given.length;
  const secretLength = secret.length;
  if (secretLength == 0) return length == 0;
  let difference = <u32>(length ^ secretLength);
  const a = changetype<usize>(given);
  const b = changetype<usize>(secret);
  for (let i = 0; i < length; i++) {
    // Past the secret's end, its first unit stands in: the step count stays the same, and a longer
    // `given` is already unequal through the lengths.
    const j = select<i32>(i, 0, i < secretLength);
    difference |= <u32>load<u16>(a + (<usize>i << 1)) ^ <u32>load<u16>(b + (<usize>j << 1));
  }
  return difference == 0;
}
