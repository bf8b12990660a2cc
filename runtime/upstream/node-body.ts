/**
 * A backend's response whose body is still what undici's dispatcher delivered (an UpstreamBody:
 * Node and Deno, whose listeners are node:http; see docs/design/performance.md, "Node and Deno: no
 * web stream per response"). On Node 20 every web `ReadableStream` costs about 11 µs to make
 * (`makeTransferable`, measured in process), against 0.4 µs on Bun and 2.3 µs on Deno, and a
 * gateway made one per response. This Response makes it only when something reads the body as a
 * web body (a policy, the response cache, a re-wrapped response): every body member is answered
 * from a real Response over that stream, made on first use. Until then the Node listener
 * (runtime/server/node-listen.ts) may take the body and write it straight into node:http's
 * ServerResponse (`takeBody`, `writeNodeBody`).
 */
import type { ServerResponse } from "node:http";
import type { BodySink, UpstreamBody } from "./upstream-body.ts";
import { standIn } from "../http/stand-in.ts";

/** The type node:http takes for a head's fields: repeated Set-Cookie as an array. */
type OutgoingFields = Record<string, string | string[]>;

/** undici's header fields of a response: names in lower case, a repeated field as an array. */
export type RawFields = Record<string, string | string[] | undefined>;

/** What @hono/node-server writes when a response with a body has no Content-Type (kept, so both paths answer alike). */
const DEFAULT_CONTENT_TYPE = "text/plain; charset=UTF-8";

/**
 * A Response over an UpstreamBody that becomes a web stream only when read as one. It is a
 * `Response` by its prototype, not by construction: on Node a web Response costs about 2 µs to
 * make under load (its init converted, its Headers made; CPU profile in bench/RESULTS.md, 2026-12-05
 * 09:30), and on the direct path nothing reads it. Its status, headers and body are its own; every
 * other member is answered by the Response with the body as a web stream (`#asWeb`), made on first use.
 */
export class NodeBodyResponse {
  #body: UpstreamBody | undefined;
  #web: Response | undefined;
  /** undici's fields, until something asks for `headers`: they are added to them then, once. */
  #raw: RawFields | undefined;
  #headers: Headers | undefined;
  readonly status: number;
  readonly statusText: string;

  /**
   * `fields`: undici's header fields, kept as they are until `headers` is read (on Node every web
   * Headers operation is costly, and the direct path needs only the length and the fields to write).
   * A Headers object given as `init.headers` becomes the response's own, not a copy: the caller
   * makes it for this response.
   */
  constructor(body: UpstreamBody, init: ResponseInit = {}, fields?: RawFields) {
    this.status = init.status ?? 200;
    this.statusText = init.statusText ?? "";
    const headers = init.headers;
    this.#headers = headers === undefined || headers instanceof Headers ? headers : new Headers(headers);
    this.#raw = fields;
    // A failure while nobody reads (the backend's connection reset while policies run) waits in
    // the body for whoever reads it next.
    this.#body = body;
  }

  /** The Response with the body as a web stream, made once, the first time a member not answered here is used. */
  #asWeb(): Response {
    if (!this.#web) {
      const body = this.#body;
      this.#body = undefined;
      this.#web = new Response(body ? body.toWeb() : null, { status: this.status, statusText: this.statusText, headers: this.headers });
    }
    return this.#web;
  }

  /** The response's Headers, made (with undici's fields in them) the first time they are asked for. */
  get headers(): Headers {
    let headers = this.#headers;
    if (!headers) headers = this.#headers = new Headers();
    const raw = this.#raw;
    if (raw) {
      this.#raw = undefined;
      appendFields(headers, raw);
    }
    return headers;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status <= 299;
  }
  get type(): ResponseType {
    return "default";
  }
  get url(): string {
    return "";
  }
  get redirected(): boolean {
    return false;
  }

  /** undici's fields while nobody has read `headers` (they are then the whole truth); undefined after. */
  rawFields(): RawFields | undefined {
    return this.#raw;
  }

  /** The body, once, while nothing has read it as a web stream; undefined after that. */
  takeBody(): UpstreamBody | undefined {
    if (this.#web) return undefined;
    const body = this.#body;
    this.#body = undefined;
    return body;
  }

  get body(): Response["body"] {
    return this.#asWeb().body;
  }
  get bodyUsed(): boolean {
    return this.#web ? this.#web.bodyUsed : this.#body === undefined;
  }

  /** The Response behind the members not answered here (arrayBuffer, text, clone, ...). */
  web(): Response {
    return this.#asWeb();
  }
}

/** NodeBodyResponse's type, as a Response: what its prototype makes it. */
export interface NodeBodyResponse extends Response {}

// Every other member of Response (arrayBuffer, json, text, clone, ...) from the web Response.
standIn(NodeBodyResponse.prototype, Response.prototype, (response) => response.web());

/**
 * Writes a NodeBodyResponse whose body nobody read to a node:http (HTTP/1.1) response: the head as
 * @hono/node-server would write it (Set-Cookie fields kept apart, its default Content-Type when none
 * is given), then each chunk as it arrives, the one that completes the declared length with `end`
 * (so a body that arrives in one chunk leaves in one write with its head). `stream.pipeline` was
 * tried first and cost more than the web stream it replaced (A/B in bench/RESULTS.md, 2026-12-03).
 * Backpressure: the body pauses while the client's socket is full. A backend that fails or stops
 * short cuts the client's response short (its socket is destroyed, as on the web-stream path); a
 * client that goes away lets go of the backend's body. Returns false, writing nothing, when the
 * body was read already or the response has no Content-Length (a chunked body keeps
 * @hono/node-server's framing).
 */
export function writeNodeBody(response: NodeBodyResponse, outgoing: ServerResponse): boolean {
  const raw = response.rawFields();
  const declared = raw ? joined(raw["content-length"]) : response.headers.get("content-length");
  if (declared === null) return false;
  const body = response.takeBody();
  if (!body) return false;
  const pump = new BodyPump(body, outgoing, Number(declared));
  if (outgoing.destroyed || body.failed) {
    pump.cut();
    return true;
  }
  const fields: OutgoingFields = {};
  if (raw) {
    // As the Headers path writes them: a repeated field joined with ", ", Set-Cookie kept apart.
    for (const name in raw) {
      const value = raw[name];
      if (value === undefined) continue;
      fields[name] = name === "set-cookie" ? value : joined(value)!;
    }
  } else {
    let cookies: string[] | undefined;
    for (const [name, value] of response.headers) {
      if (name === "set-cookie") (cookies ??= []).push(value);
      else fields[name] = value;
    }
    if (cookies) fields["set-cookie"] = cookies;
  }
  fields["content-type"] ??= DEFAULT_CONTENT_TYPE;
  outgoing.writeHead(response.status, fields);
  outgoing.once("close", () => pump.closed());
  body.read(pump);
  return true;
}

/**
 * One writeNodeBody in progress: what was sent, and whether the response has ended (either way).
 * Its steps are methods, and the listeners anonymous arrows that call them: on Node, tsx (esbuild's
 * `keepNames`) wraps every named function made at run time in a call that defines its `name`
 * property, which a CPU profile of the gateway put at about 1 % of its samples for the two named
 * closures this function used to make per response.
 */
class BodyPump implements BodySink {
  ended = false;
  sent = 0;
  constructor(readonly body: UpstreamBody, readonly outgoing: ServerResponse, readonly length: number) {}

  /** A backend that failed or stopped short, or a response that could not start: both sides are let go. */
  cut(): void {
    if (this.ended) return;
    this.ended = true;
    this.body.destroy();
    this.outgoing.destroy();
  }

  /** A chunk: written, the one that completes the declared length with `end`; false while the socket is full (the body resumes on 'drain'). */
  data(chunk: Uint8Array): boolean {
    if (this.ended) return true;
    this.sent += chunk.byteLength;
    if (this.sent >= this.length) {
      this.ended = true;
      this.outgoing.end(chunk);
      return true;
    }
    if (this.outgoing.write(chunk)) return true;
    this.outgoing.once("drain", () => this.body.resume());
    return false;
  }

  /** The backend's body ended: only an empty body ends here with all its bytes; anything else stopped short of its length. */
  end(): void {
    if (this.ended) return;
    if (this.sent === this.length) {
      this.ended = true;
      this.outgoing.end();
    } else this.cut();
  }

  /** The backend's body failed: the client's response is cut short. */
  fail(): void {
    this.cut();
  }

  /** The client's response closed (finished or the client went away): the backend's body is not read further. */
  closed(): void {
    this.ended = true;
    this.body.destroy();
  }
}

/** Adds undici's fields to web Headers, a repeated field value by value. */
export function appendFields(headers: Headers, raw: RawFields): void {
  for (const name in raw) {
    const value = raw[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) { for (const v of value) headers.append(name, v); }
    else headers.append(name, value);
  }
}

/** A field's value as Headers would give it: repeated values joined with ", "; null when absent. */
function joined(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(", ") : value;
}

/**
 * A header field of a response, as `response.headers.get(name)` answers it, without making the
 * Headers of a NodeBodyResponse nobody has asked for them yet. `name` in lower case.
 */
export function responseField(response: Response, name: string): string | null {
  const raw = response instanceof NodeBodyResponse ? response.rawFields() : undefined;
  return raw ? joined(raw[name]) : response.headers.get(name);
}
