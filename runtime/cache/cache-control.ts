/**
 * What a backend's `Cache-Control` (RFC 9111 §5.2.2) says about storing its response in the
 * gateway's cache, a shared cache: `no-store`, `private` and `no-cache` keep it out (the gateway
 * does not revalidate), and `s-maxage`, else `max-age`, shortens cache-store's `duration` (never
 * lengthens it; 0 keeps it out). Other directives do not change what is stored.
 */

/** How long a response may be stored, in ms (0: not at all), given cache-store's duration. */
export function storableMs(cacheControl: string | null, durationMs: number): number {
  if (!cacheControl) return durationMs;
  let maxAge: number | undefined;
  let sMaxAge: number | undefined;
  for (const part of cacheControl.split(",")) {
    const eq = part.indexOf("=");
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === "no-store" || name === "private" || name === "no-cache") return 0;
    if (name !== "max-age" && name !== "s-maxage") continue;
    const raw = eq < 0 ? "" : part.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
    // A malformed age is taken as 0: the response is stale from the start (RFC 9111 §4.2.1).
    const seconds = /^\d+$/.test(raw) ? Number(raw) : 0;
    if (name === "max-age") maxAge = seconds;
    else sMaxAge = seconds;
  }
  const age = sMaxAge ?? maxAge;
  return age === undefined ? durationMs : Math.min(durationMs, age * 1000);
}
