/**
 * Paths that need the URL parser's normalisation: dot segments (also percent-encoded), characters
 * outside visible ASCII, or characters every runtime's URL parser percent-encodes in a path
 * (`"<>\`{}`). Everything else is already in normal form.
 */
const NEEDS_NORMALISING = /\/\.|%2e|[^\x21-\x7e]|["<>`{}]/i;

/** A request target split into its path (routed and forwarded) and query string ("" or starting with "?"). */
export interface RequestTarget {
  readonly path: string;
  readonly search: string;
}

/**
 * Splits the request URL that a runtime hands over into path and query, normalised the same way
 * on every runtime (the WHATWG URL rules, which Bun and Node already apply and Deno does not):
 * `\` read as `/`; runs of `/` merged into one (Bun's `fetch` would drop a leading `//` of the
 * outgoing path, so what is routed is what every runtime sends); `.` and `..` segments resolved,
 * also when percent-encoded; non-ASCII percent-encoded; any fragment dropped. Encoded slashes
 * (`%2F`) stay encoded, and the query string is kept byte for byte (an empty `?` is dropped).
 * The backend receives exactly the path that was routed.
 */
export function requestTarget(url: string): RequestTarget {
  // An absolute URL (what runtimes hand over) or an origin-form target ("/path?query").
  const start = url.startsWith("/") ? 0 : endOfAuthority(url, url.indexOf("//") + 2);
  let target = start < 0 ? "/" : url.slice(start);
  const fragment = target.indexOf("#");
  if (fragment >= 0) target = target.slice(0, fragment);
  const query = target.indexOf("?");
  let path = query < 0 ? target : target.slice(0, query);
  let search = query < 0 || query === target.length - 1 ? "" : target.slice(query);
  if (path === "") path = "/";
  if (path.includes("\\")) path = path.replace(/\\/g, "/");
  if (path.includes("//")) path = path.replace(/\/{2,}/g, "/");
  if (NEEDS_NORMALISING.test(path)) {
    // Parsed after a fixed origin, so the path is never read as a host; only the path is rewritten.
    path = new URL(`http://portico.invalid${path}`).pathname;
  }
  // Only what can never be sent on the wire (spaces, controls, non-ASCII) is percent-encoded in
  // the query, as UTF-8; everything else stays as the client sent it.
  if (/[^\x21-\x7e]/.test(search)) search = search.replace(/[^\x21-\x7e]+/g, percentEncode);
  return { path, search };
}

/** Index of the first "/", "?" or "#" at or after `from`, or -1: where the authority ends. */
function endOfAuthority(url: string, from: number): number {
  for (let i = from; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 0x2f || c === 0x3f || c === 0x23) return i;
  }
  return -1;
}

function percentEncode(text: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(text)) out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  return out;
}
