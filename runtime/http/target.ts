/**
 * Paths that need the URL parser's normalisation: dot segments (also percent-encoded), backslashes,
 * or characters outside visible ASCII. Everything else is already in normal form.
 */
const NEEDS_NORMALISING = /\/\.|%2e|\\|[^\x21-\x7e]/i;

/** A request target split into its path (routed and forwarded) and query string ("" or starting with "?"). */
export interface RequestTarget {
  readonly path: string;
  readonly search: string;
}

/**
 * Splits the request URL that a runtime hands over into path and query, normalised the same way
 * on every runtime (the WHATWG URL rules, which Bun and Node already apply and Deno does not):
 * `.` and `..` segments resolved, also when percent-encoded; `\` read as `/`; non-ASCII
 * percent-encoded; any fragment dropped. `//` and encoded slashes (`%2F`) are kept as sent, and so
 * is the query string. The backend receives exactly the path that was routed.
 */
export function requestTarget(url: string): RequestTarget {
  // An absolute URL (what runtimes hand over) or an origin-form target ("/path?query").
  const authority = url.startsWith("/") ? 0 : url.indexOf("//") + 2;
  const start = authority === 0 ? 0 : url.slice(authority).search(/[/?#]/);
  let target = start < 0 ? "/" : url.slice(authority + start);
  const fragment = target.indexOf("#");
  if (fragment >= 0) target = target.slice(0, fragment);
  const query = target.indexOf("?");
  let path = query < 0 ? target : target.slice(0, query);
  let search = query < 0 ? "" : target.slice(query);
  if (path === "") path = "/";
  if (NEEDS_NORMALISING.test(path)) {
    // Parsed after a fixed origin, so a path starting with "//" or "/\\" is never read as a host,
    // and only the path is rewritten.
    path = new URL(`http://portico.invalid${path}`).pathname;
  }
  // The query string is kept byte for byte; only what can never be sent on the wire (spaces,
  // controls, non-ASCII) is percent-encoded, as UTF-8.
  if (/[^\x21-\x7e]/.test(search)) search = search.replace(/[^\x21-\x7e]+/g, percentEncode);
  return { path, search };
}

function percentEncode(text: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(text)) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  return out;
}
