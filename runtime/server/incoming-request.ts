/**
 * A web `Request` over a node:http `IncomingMessage` for the common case Portico serves most, a
 * plain HTTP/1 `GET` whose target and `Host` need no normalising: its method, URL and header look-ups
 * are answered from the message as node:http parsed it, and anything else a `Request` offers is
 * answered by a real one, made once when first asked for. Used by the Node listener
 * (node-listen.ts, `nodeRequestListener`) in place of @hono/node-server's request for those
 * requests; every other request keeps @hono/node-server's, with its checks and its body handling.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HTTP_TOKEN } from "../../config/schema/http-token.ts";
import { standIn } from "../http/stand-in.ts";

/**
 * A request target made of path characters only, with a query perhaps: no percent-encoding, no
 * fragment, no brackets, no backslash. Such a target is used as it is in the URL (nothing to
 * normalise), whichever URL parser reads it.
 */
const PLAIN_TARGET = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*$/;
/** A `.` or `..` segment, which a URL parser would resolve away. */
const DOT_SEGMENT = /\/\.\.?(?:[/?]|$)/;
/** A host name in lower case (letters, digits, dots, hyphens), with a port from 1000 to 59999 perhaps. */
const PLAIN_HOST = /^[a-z0-9.-]+(?::(?:[1-9]\d{3}|[1-5]\d{4}))?$/;

/**
 * The absolute URL of a plain HTTP/1 request (`scheme://host/target`), or undefined when its target
 * or `Host` would need parsing or checking (absolute form, encoded characters, dot segments, upper
 * case, an unusual port, no `Host`): those go the general way.
 */
export function plainRequestUrl(incoming: IncomingMessage): string | undefined {
  const target = incoming.url;
  const host = incoming.headers.host;
  if (target === undefined || host === undefined || !PLAIN_TARGET.test(target) || DOT_SEGMENT.test(target) || !PLAIN_HOST.test(host)) return undefined;
  const scheme = (incoming.socket as { encrypted?: boolean } | null)?.encrypted ? "https" : "http";
  return `${scheme}://${host}${target}`;
}

/** What makes a field value need the Headers class's own handling: surrounding whitespace, or a byte it refuses. */
const UNUSUAL_VALUE = /^[\t ]|[\t ]$|[\0\r\n]/;

/**
 * The request's Headers: `get` and `has` read node:http's raw fields (repeated fields joined with
 * ", ", and `Cookie` with "; " as node:http joins it), without filling a Headers object; every other
 * member fills it from the raw fields once and then behaves as Headers does.
 */
export class IncomingHeaders extends Headers {
  #raw: readonly string[] | undefined;

  constructor(raw: readonly string[]) {
    super();
    this.#raw = raw;
  }

  /** The value as Headers would give it, null when absent, undefined when only Headers itself can say. */
  #lookup(name: string): string | null | undefined {
    const raw = this.#raw;
    if (raw === undefined || !HTTP_TOKEN.test(name)) return undefined;
    const lower = name.toLowerCase();
    const separator = lower === "cookie" ? "; " : ", ";
    let value: string | null = null;
    for (let i = 0; i < raw.length; i += 2) {
      const field = raw[i]!;
      if (field.length !== lower.length || field.toLowerCase() !== lower) continue;
      const part = raw[i + 1]!;
      if (UNUSUAL_VALUE.test(part)) return undefined;
      value = value === null ? part : value + separator + part;
    }
    return value;
  }

  /** These Headers with the raw fields in them, for whatever reads Headers' own storage (a Request being built). */
  filled(): Headers {
    this.#fill();
    return this;
  }

  /** Fills the Headers from the raw fields, once. */
  #fill(): void {
    const raw = this.#raw;
    if (raw === undefined) return;
    this.#raw = undefined;
    for (let i = 0; i < raw.length; i += 2) super.append(raw[i]!, raw[i + 1]!);
  }

  override get(name: string): string | null {
    const value = this.#lookup(name);
    if (value !== undefined) return value;
    this.#fill();
    return super.get(name);
  }
  override has(name: string): boolean {
    const value = this.#lookup(name);
    if (value !== undefined) return value !== null;
    this.#fill();
    return super.has(name);
  }
  override append(name: string, value: string): void {
    this.#fill();
    super.append(name, value);
  }
  override set(name: string, value: string): void {
    this.#fill();
    super.set(name, value);
  }
  override delete(name: string): void {
    this.#fill();
    super.delete(name);
  }
  override getSetCookie(): string[] {
    this.#fill();
    return super.getSetCookie();
  }
  override forEach(callback: (value: string, name: string, parent: Headers) => void, thisArg?: unknown): void {
    this.#fill();
    super.forEach(callback, thisArg);
  }
  override entries(): ReturnType<Headers["entries"]> {
    this.#fill();
    return super.entries();
  }
  override keys(): ReturnType<Headers["keys"]> {
    this.#fill();
    return super.keys();
  }
  override values(): ReturnType<Headers["values"]> {
    this.#fill();
    return super.values();
  }
  override [Symbol.iterator](): ReturnType<Headers["entries"]> {
    this.#fill();
    return super[Symbol.iterator]();
  }
}

/**
 * A `GET` request over an IncomingMessage (see the file's comment). It is a `Request` by its
 * prototype; its method, URL, headers, body (none) and signal are its own, and every other member
 * is answered by a real Request with the same URL and headers, made on first use.
 */
export class IncomingRequest {
  #headers: IncomingHeaders | undefined;
  #signal: AbortSignal | undefined;
  #real: Request | undefined;

  readonly #url: string;

  constructor(readonly incoming: IncomingMessage, readonly outgoing: ServerResponse, url: string) {
    this.#url = url;
  }

  get method(): string {
    return "GET";
  }
  get url(): string {
    return this.#url;
  }
  get headers(): Headers {
    return this.#ownHeaders();
  }
  #ownHeaders(): IncomingHeaders {
    return this.#headers ??= new IncomingHeaders(this.incoming.rawHeaders);
  }
  get body(): null {
    return null;
  }
  get bodyUsed(): boolean {
    return false;
  }
  /** Aborted when the client's connection closes before the response is finished. */
  get signal(): AbortSignal {
    if (!this.#signal) {
      const controller = new AbortController();
      this.#signal = controller.signal;
      const outgoing = this.outgoing;
      if (outgoing.destroyed && !outgoing.writableFinished) controller.abort();
      else outgoing.once("close", () => outgoing.writableFinished || controller.abort());
    }
    return this.#signal;
  }

  /** The real Request behind the members not answered here. */
  real(): Request {
    return this.#real ??= new Request(this.url, { method: "GET", headers: this.#ownHeaders().filled(), signal: this.signal });
  }
}

// Every other member of Request (cache, mode, clone, text, ...) from the real Request.
standIn(IncomingRequest.prototype, Request.prototype, (request) => request.real());
