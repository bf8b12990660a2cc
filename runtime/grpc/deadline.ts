/** The `grpc-timeout` request header (gRPC over HTTP/2): how long the client gives a call. */

/** Milliseconds per unit: Hours, Minutes, Seconds, milliseconds, microseconds, nanoseconds. */
const UNITS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };

/**
 * The timeout a `grpc-timeout` value gives, in milliseconds (fractions kept), or undefined when it
 * is absent or malformed (1 to 8 ASCII digits then one unit letter). A malformed value is passed on
 * to the backend as it is and the gateway enforces no deadline of its own (docs/protocols.md).
 */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!match) return undefined;
  return Number(match[1]) * UNITS[match[2]!]!;
}
