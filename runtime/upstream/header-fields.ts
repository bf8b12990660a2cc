/**
 * Request headers for a backend as a plain record, for the upstream client that sends them as one
 * (undici on Node and Deno). On those runtimes every web `Headers` operation goes through WebIDL
 * conversions, and the proxy built a `Headers` for the backend request only for the client to turn
 * it into a record again; where no policy sees the request, the proxy builds this instead
 * (docs/design/performance.md, "Node and Deno: the backend request's headers as a record").
 */

/** The header operations the backend request's headers go through: web Headers have them, and so does HeaderFields. */
export interface OutgoingHeaders {
  get(name: string): string | null;
  has(name: string): boolean;
  set(name: string, value: string): void;
  append(name: string, value: string): void;
  delete(name: string): void;
  /** Each field once, a repeated one's values joined with ", " (Set-Cookie value by value), as Headers does. */
  forEach(callback: (value: string, name: string) => void): void;
}

/**
 * Header fields in a record without a prototype (a client's `__proto__` header is a field like any
 * other), names in lower case, a repeated field as an array of its values. Values are not checked
 * here: they come from a request the listener parsed and from the gateway's own forwarding and trace
 * headers, and the client that sends them (undici) refuses invalid ones; anything a policy may set
 * goes through web Headers.
 */
export class HeaderFields implements OutgoingHeaders {
  /** The fields, as undici takes them. */
  readonly fields: Record<string, string | string[]> = Object.create(null);

  get(name: string): string | null {
    const value = this.fields[name.toLowerCase()];
    if (value === undefined) return null;
    return typeof value === "string" ? value : value.join(", ");
  }

  has(name: string): boolean {
    return this.fields[name.toLowerCase()] !== undefined;
  }

  set(name: string, value: string): void {
    this.fields[name.toLowerCase()] = value;
  }

  append(name: string, value: string): void {
    const key = name.toLowerCase();
    const present = this.fields[key];
    if (present === undefined) this.fields[key] = value;
    else if (typeof present === "string") this.fields[key] = [present, value];
    else present.push(value);
  }

  delete(name: string): void {
    delete this.fields[name.toLowerCase()];
  }

  forEach(callback: (value: string, name: string) => void): void {
    const fields = this.fields;
    for (const name in fields) {
      const value = fields[name]!;
      if (typeof value === "string") callback(value, name);
      else if (name === "set-cookie") { for (const one of value) callback(one, name); }
      else callback(value.join(", "), name);
    }
  }
}

/** What the proxy reads of the client's headers: web Headers, or the fields as parsed (RawHeaderList). */
export type IncomingHeaders = Pick<OutgoingHeaders, "get" | "forEach">;

/**
 * What a parsed request's header value may not be as it is, for `rawHeaderList`: a value with
 * whitespace around it (web Headers trim it) or a CR, LF or NUL (web Headers refuse it). A parser
 * that already refused such values (Node's strict one) never gives one; any other falls back.
 */
const NOT_AS_IS = /^[\t ]|[\t ]$|[\r\n\0]/;

/**
 * The most fields `rawHeaderList` reads; a request with more goes to web Headers. Telling a repeated
 * name apart costs a scan of the names so far, so the list is for the usual few dozen fields: a
 * client sending thousands of tiny ones (node:http takes up to 2,000) would otherwise make its
 * request cost the gateway far more than web Headers do.
 */
export const MAX_LISTED_FIELDS = 32;

/**
 * The client's header fields as the listener parsed them, in their order, each name once and in
 * lower case: what web Headers built from them would give to `get` and `forEach` (apart from the
 * order, which carries no meaning between different names).
 */
export class RawHeaderList implements IncomingHeaders {
  constructor(
    /** Lower case, each once. */
    private readonly names: readonly string[],
    private readonly values: readonly string[],
  ) {}

  get(name: string): string | null {
    const at = this.names.indexOf(name.toLowerCase());
    return at < 0 ? null : this.values[at]!;
  }

  forEach(callback: (value: string, name: string) => void): void {
    const names = this.names;
    const values = this.values;
    for (let i = 0; i < names.length; i++) callback(values[i]!, names[i]!);
  }
}

/**
 * The client's header fields from a node:http listener (`IncomingMessage.rawHeaders`: name, value,
 * name, value, ...) as a RawHeaderList, so the proxy reads them without the listener's request
 * building web Headers (on Node and Deno every Headers operation goes through WebIDL conversions;
 * measured in docs/design/performance.md, "Node and Deno: the client's headers read as parsed").
 * Undefined, and the caller reads web Headers as before, when a name repeats (web Headers join the
 * values), a value is not what web Headers would hold as it is, or there are more than
 * MAX_LISTED_FIELDS fields: rare, and then nothing differs.
 */
export function rawHeaderList(raw: readonly string[]): RawHeaderList | undefined {
  if (raw.length > 2 * MAX_LISTED_FIELDS) return undefined;
  const names: string[] = [];
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const value = raw[i + 1]!;
    if (NOT_AS_IS.test(value)) return undefined;
    const name = raw[i]!.toLowerCase();
    if (names.includes(name)) return undefined;
    names.push(name);
    values.push(value);
  }
  return new RawHeaderList(names, values);
}
