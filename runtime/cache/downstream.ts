/**
 * The `Cache-Control` a client gets with a response the gateway serves from its cache or stores
 * (cache-lookup's `downstream-caching-type` and `must-revalidate`): `none` forbids caching it
 * downstream (`no-store`); `private` allows the client's own cache (`private, max-age=N`) and
 * `public` shared caches too (`public, max-age=N`), N being the seconds the entry has left, with
 * `must-revalidate` unless that attribute is false. Responses the gateway neither serves from nor
 * puts in its cache keep the backend's header.
 */

/** cache-lookup's downstream attributes, compiled. */
export class Downstream {
  constructor(readonly type: "none" | "private" | "public", readonly mustRevalidate: boolean) {}

  /** The header value for an entry that expires at `expiresAt` (ms), at `now`. */
  cacheControl(expiresAt: number, now: number): string {
    if (this.type === "none") return "no-store";
    const seconds = Math.max(0, Math.floor((expiresAt - now) / 1000));
    return `${this.type}, max-age=${seconds}${this.mustRevalidate ? ", must-revalidate" : ""}`;
  }
}
