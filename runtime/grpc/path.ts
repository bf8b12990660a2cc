/** Which `:path` values are gRPC method paths. */

/** A service or method name: letters, digits and `_ . - $`, and neither `.` nor `..` alone. */
const SEGMENT = /^[A-Za-z0-9_.$-]+$/;

/**
 * True for a gRPC method path, `/package.Service/Method`: exactly two names, no query, no
 * percent-encoding, no dot segments. Anything else is refused before routing, so a path cannot name
 * one API to the router and, once normalised into the backend URL, another service to the backend.
 */
export function isGrpcPath(path: string): boolean {
  const slash = path.indexOf("/", 1);
  if (path.charCodeAt(0) !== 47 || slash < 0) return false;
  const service = path.slice(1, slash);
  const method = path.slice(slash + 1);
  return SEGMENT.test(service) && SEGMENT.test(method) && service !== "." && service !== ".." && method !== "." && method !== "..";
}
