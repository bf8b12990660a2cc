/**
 * Conditional requests answered from the response cache (RFC 9110 §13, as a cache does it per
 * RFC 9111 §4.3.2): a hit whose stored 200 response matches the client's `If-None-Match` (or, without
 * one, is not newer than its `If-Modified-Since`) is answered 304 Not Modified with no body, so a
 * client that already holds the representation is not sent it again. APIM's documentation of
 * cache-lookup says nothing about conditional requests; docs/caching.md says what Portico does.
 */

/** The entity tags of an `If-None-Match` list, or "*" (any); opaque tags are compared weakly (W/ ignored). */
function matchesAnyTag(ifNoneMatch: string, etag: string | undefined): boolean {
  if (ifNoneMatch.trim() === "*") return etag !== undefined;
  if (etag === undefined) return false;
  const stored = opaque(etag);
  if (stored === undefined) return false;
  // Tags are quoted strings that cannot contain a double quote, so they are found one by one.
  for (const match of ifNoneMatch.matchAll(/(?:W\/)?"[^"]*"/g)) if (opaque(match[0]) === stored) return true;
  return false;
}

/** The quoted part of an entity tag (`W/"x"` and `"x"` are the same to the weak comparison), or undefined when malformed. */
function opaque(tag: string): string | undefined {
  const trimmed = tag.trim();
  const body = trimmed.startsWith("W/") ? trimmed.slice(2) : trimmed;
  return body.length >= 2 && body.startsWith('"') && body.endsWith('"') ? body : undefined;
}

/** Headers a 304 carries of the stored response (RFC 9110 §15.4.5): the ones a cache updates from, not the body's metadata. */
const KEPT_ON_304 = new Set(["cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified", "age"]);

/**
 * Whether a request with `requestHeaders` that hit a stored response (`status`, `headers`) gets 304:
 * only for a stored 200; `If-None-Match` decides when present, else `If-Modified-Since` against the
 * stored `Last-Modified` (dates that do not parse never match).
 */
export function notModified(requestHeaders: Headers, status: number, headers: Headers): boolean {
  if (status !== 200) return false;
  const ifNoneMatch = requestHeaders.get("if-none-match");
  if (ifNoneMatch !== null) return matchesAnyTag(ifNoneMatch, headers.get("etag") ?? undefined);
  const ifModifiedSince = requestHeaders.get("if-modified-since");
  const lastModified = headers.get("last-modified");
  if (ifModifiedSince === null || lastModified === null) return false;
  const since = Date.parse(ifModifiedSince);
  const modified = Date.parse(lastModified);
  return Number.isFinite(since) && Number.isFinite(modified) && modified <= since;
}

/** The headers of the 304 answer made from a hit's headers: only those a 304 carries. */
export function notModifiedHeaders(headers: Headers): Headers {
  const kept = new Headers();
  headers.forEach((value, name) => {
    if (KEPT_ON_304.has(name)) kept.append(name, value);
  });
  return kept;
}
