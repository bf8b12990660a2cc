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
  /**
   * The URL's authority (`host[:port]`): the absolute-form target's where the client sent one and
   * the runtime keeps it, else the `Host` header's. "" when the runtime handed over an origin-form
   * URL, which it does when the `Host` header is not a host (Bun.serve).
   */
  readonly authority: string;
  /** The path had an encoded slash or backslash (`%2F`, `%5C`); with `reject`, the request is refused. */
  readonly encodedSeparator: boolean;
}

/**
 * What encoded slashes and backslashes (`%2F`, `%5C`) in a path mean (`net.server.path.encoded-separators`):
 * `keep` routes them as ordinary characters of a segment and forwards them encoded; `reject` refuses
 * the request (400); `decode` turns them into `/` before the path is normalised and routed, so the
 * backend receives the decoded path.
 */
export type EncodedSeparators = "keep" | "reject" | "decode";

const ENCODED_SEPARATOR = /%2f|%5c/i;

/**
 * Splits the request URL that a runtime hands over into path and query, normalised the same way
 * on every runtime (the WHATWG URL rules, which Bun and Node already apply and Deno does not):
 * `\` read as `/`; runs of `/` merged into one (Bun's `fetch` would drop a leading `//` of the
 * outgoing path, so what is routed is what every runtime sends); `.` and `..` segments resolved,
 * also when percent-encoded; non-ASCII percent-encoded; any fragment dropped. Encoded slashes
 * (`%2F`) and backslashes (`%5C`) stay encoded unless `separators` says otherwise, and the query
 * string is kept byte for byte (an empty `?` is dropped). The backend receives exactly the path
 * that was routed.
 */
export function requestTarget(url: string, separators: EncodedSeparators = "keep"): RequestTarget {
  // An absolute URL (what runtimes hand over) or an origin-form target ("/path?query").
  let authority = "";
  let start = 0;
  if (!url.startsWith("/")) {
    const from = url.indexOf("//") + 2;
    start = endOfAuthority(url, from);
    authority = url.slice(from, start < 0 ? url.length : start);
  }
  let target = start < 0 ? "/" : url.slice(start);
  const fragment = target.indexOf("#");
  if (fragment >= 0) target = target.slice(0, fragment);
  const query = target.indexOf("?");
  let path = query < 0 ? target : target.slice(0, query);
  let search = query < 0 || query === target.length - 1 ? "" : target.slice(query);
  if (path === "") path = "/";
  let encodedSeparator = false;
  if (path.includes("%") && ENCODED_SEPARATOR.test(path)) {
    encodedSeparator = true;
    if (separators === "decode") path = path.replace(/%2f|%5c/gi, "/");
  }
  if (path.includes("\\")) path = path.replace(/\\/g, "/");
  if (path.includes("//")) path = path.replace(/\/{2,}/g, "/");
  if (NEEDS_NORMALISING.test(path)) {
    // Parsed after a fixed origin, so the path is never read as a host; only the path is rewritten.
    path = new URL(`http://portico.invalid${path}`).pathname;
  }
  // Only what can never be sent on the wire (spaces, controls, non-ASCII) is percent-encoded in
  // the query, as UTF-8; everything else stays as the client sent it.
  if (/[^\x21-\x7e]/.test(search)) search = search.replace(/[^\x21-\x7e]+/g, percentEncode);
  return { path, search, authority, encodedSeparator };
}

/** `host`, `host:port`, `[v6]` or `[v6]:port`: what a Host header or a target's authority may be (no user info, path or spaces). */
const AUTHORITY = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** True when an authority is a host with an optional port and nothing else. */
export function isValidAuthority(authority: string): boolean {
  return AUTHORITY.test(authority);
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
