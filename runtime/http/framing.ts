/**
 * Checks on a request's framing headers that the runtimes' HTTP parsers do not all make. Bun and
 * Deno merge repeated `Content-Length` headers into one value (`5, 5`) and Bun merges repeated
 * `Host` headers (`a, b`); forwarding such a request would let the gateway and the backend disagree
 * on where it ends or whom it is for. Returns why the request is malformed, or undefined.
 */
export function framingProblem(headers: Headers): string | undefined {
  const length = headers.get("content-length");
  if (length !== null && !/^\d{1,15}$/.test(length)) return "Content-Length must be one decimal number";
  const host = headers.get("host");
  if (host !== null && host.includes(",")) return "exactly one Host header is allowed";
  return undefined;
}
