/**
 * gRPC status codes and how the gateway's own answers (HTTP statuses of policy replies and
 * problems) become them, for calls on the gRPC listener (docs/protocols.md).
 */

/** The gRPC status codes the gateway sends itself (the backend's pass through as they are). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** One of the codes above. */
export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/**
 * The gRPC status for an HTTP status the gateway would have answered with: gRPC's own HTTP to gRPC
 * table (400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED, 502 and 503
 * UNAVAILABLE, anything else UNKNOWN), except that 429 is RESOURCE_EXHAUSTED and 504 (the backend
 * took too long) and 408 DEADLINE_EXCEEDED, which say what happened more exactly. The table is in
 * docs/protocols.md.
 */
export function grpcStatusForHttp(status: number): GrpcStatusCode {
  switch (status) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
    case 405:
      return GrpcStatus.UNIMPLEMENTED;
    case 408:
    case 504:
      return GrpcStatus.DEADLINE_EXCEEDED;
    case 429:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 502:
    case 503:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

/**
 * The status for a backend stream reset with an HTTP/2 error code (gRPC's HTTP/2 mapping):
 * REFUSED_STREAM is UNAVAILABLE (the call was not started, a client may retry), CANCEL is
 * CANCELLED, ENHANCE_YOUR_CALM is RESOURCE_EXHAUSTED, INADEQUATE_SECURITY is PERMISSION_DENIED,
 * every other code INTERNAL.
 */
export function grpcStatusForReset(code: number): GrpcStatusCode {
  switch (code) {
    case 0x7:
      return GrpcStatus.UNAVAILABLE;
    case 0x8:
      return GrpcStatus.CANCELLED;
    case 0xb:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 0xc:
      return GrpcStatus.PERMISSION_DENIED;
    default:
      return GrpcStatus.INTERNAL;
  }
}

const HEX = "0123456789ABCDEF";

/**
 * A `grpc-message` value: the text's UTF-8 bytes, with every byte outside printable ASCII
 * (0x20 to 0x7E) and `%` itself percent-encoded, as the gRPC HTTP/2 protocol requires.
 */
export function encodeGrpcMessage(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += "%" + HEX[byte >> 4] + HEX[byte & 15];
  }
  return out;
}

/** The text of a `grpc-message` value (the inverse of `encodeGrpcMessage`); a malformed escape stays as it is. */
export function decodeGrpcMessage(value: string): string {
  if (!value.includes("%")) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c & 0xff);
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
