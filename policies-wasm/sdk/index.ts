// Portico policy SDK for AssemblyScript, ABI v1. A policy re-exports `portico_abi_version` and
// exports the hooks it implements (`on_request`, `on_response`); it reads and changes the
// exchange through the classes below. Strings are UTF-8 on the wire, whatever they contain.
import "./abort";
// The host functions and the helpers that pass strings and bytes to them (host.ts).
import {
  extism_config_get, host_request_method, host_request_path, host_request_header, host_request_header_set,
  host_request_header_append, host_request_header_remove, host_response_header, host_response_header_set,
  host_response_header_append, host_response_header_remove, host_reply, host_reply_header, host_request_query,
  host_request_query_string, host_request_query_set, host_request_query_append, host_request_query_remove,
  host_request_query_string_set, host_request_path_set, host_request_route_param, host_client_ip,
  host_client_certificate, host_last_error, host_request_body, host_request_body_set, host_response_body,
  host_response_body_set, host_route_api, host_route_operation, host_response_status, host_var_get, host_var_set,
  host_set_backend, host_set_backend_url, host_log, host_counter_add, host_counter_reset_ms, host_cache_get,
  host_cache_set, host_concurrency_acquire, host_reply_problem, host_context, host_counter_add_bytes, toBlock,
  toExtismBlock, bytesToBlock, bytesFromBlock, fromBlock,
} from "./host";
import { constantTimeEquals, jsonEscape, percentEncode } from "./text";

/** Text helpers for policies (text.ts). */
export { constantTimeEquals, jsonEscape, percentEncode };

/** The ABI this SDK targets, `(major << 16) | minor`: 1.4. Every policy re-exports it. */
export function portico_abi_version(): i32 {
  return 0x10004;
}

/** The request on its way to the backend. */
export class Request {
  static method(): string {
    return fromBlock(host_request_method())!;
  }
  static path(): string {
    return fromBlock(host_request_path())!;
  }
  static header(name: string): string | null {
    return fromBlock(host_request_header(toBlock(name)));
  }
  static setHeader(name: string, value: string): void {
    host_request_header_set(toBlock(name), toBlock(value));
  }
  static appendHeader(name: string, value: string): void {
    host_request_header_append(toBlock(name), toBlock(value));
  }
  static removeHeader(name: string): void {
    host_request_header_remove(toBlock(name));
  }
  /** The first value of a query parameter (decoded), or null. */
  static query(name: string): string | null {
    return fromBlock(host_request_query(toBlock(name)));
  }
  /** The query string going to the backend, without "?" ("" when none), as it is on the wire. */
  static queryString(): string {
    return fromBlock(host_request_query_string())!;
  }
  /** Sets a query parameter (every earlier value of it is replaced); the host encodes it. */
  static setQuery(name: string, value: string): void {
    host_request_query_set(toBlock(name), toBlock(value));
  }
  /** Adds a value to a query parameter, after the ones it has. */
  static appendQuery(name: string, value: string): void {
    host_request_query_append(toBlock(name), toBlock(value));
  }
  /** Removes a query parameter (all its values). */
  static removeQuery(name: string): void {
    host_request_query_remove(toBlock(name));
  }
  /** Replaces the whole query string (already encoded; "" removes it). */
  static setQueryString(query: string): void {
    host_request_query_string_set(toBlock(query));
  }
  /** Sets the path the backend gets after its base URL ("/..."; no query, no dot segments). */
  static setPath(path: string): void {
    host_request_path_set(toBlock(path));
  }
  /** A route parameter of the matched operation (`/{id}`), decoded, or null. */
  static routeParam(name: string): string | null {
    return fromBlock(host_request_route_param(toBlock(name)));
  }
  /** The client's IP address (IPv4 dotted, or IPv6 text). */
  static clientIp(): string {
    const ip = fromBlock(host_client_ip());
    return ip === null ? "" : ip!;
  }
  /**
   * A field of the client's certificate (ABI 1.2), on host names that negotiate client certificates;
   * null when the client sent none (or the host name does not ask). Fields: thumbprint,
   * serial-number, subject, common-name, issuer-subject, dns-names, not-before, not-after, expired,
   * not-yet-valid, trusted ("true"/"false": a valid chain to one of the host name's clientCa
   * certificates), trust-error (why not, "" when trusted; null from hosts older than this field).
   */
  static clientCertificate(field: string): string | null {
    return fromBlock(host_client_certificate(toBlock(field)));
  }
  /** The name of the matched API ("" if unknown). */
  static api(): string {
    const name = fromBlock(host_route_api());
    return name === null ? "" : name!;
  }
  /** The name of the matched operation ("" when the API lists none). */
  static operation(): string {
    const name = fromBlock(host_route_operation());
    return name === null ? "" : name!;
  }
}

/** The response on its way to the client (in `on_response`). */
export class Response {
  static header(name: string): string | null {
    return fromBlock(host_response_header(toBlock(name)));
  }
  static setHeader(name: string, value: string): void {
    host_response_header_set(toBlock(name), toBlock(value));
  }
  static appendHeader(name: string, value: string): void {
    host_response_header_append(toBlock(name), toBlock(value));
  }
  static removeHeader(name: string): void {
    host_response_header_remove(toBlock(name));
  }
  /** The backend's status in `on_response` (0 in `on_request`). */
  static status(): i32 {
    return host_response_status();
  }
}

/**
 * An answer from the policy itself instead of the backend's (or the backend's, in on_response):
 * once a hook has called `send`, the rest of the chain is skipped and the client gets this reply.
 */
export class Reply {
  static header(name: string, value: string): void {
    host_reply_header(toBlock(name), toBlock(value));
  }
  static send(status: i32, body: string): void {
    host_reply(status, toBlock(body));
  }
}

/** The policy's parameters (`with:` in the configuration), as strings. */
export class Config {
  static get(key: string): string | null {
    return fromBlock(extism_config_get(toExtismBlock(key)));
  }
}

/** Variables of the current request, shared by every policy along its chain. */
export class Context {
  static get(name: string): string | null {
    return fromBlock(host_var_get(toBlock(name)));
  }
  static set(name: string, value: string): void {
    host_var_set(toBlock(name), toBlock(value));
  }
}

/** Where the request goes. */
export class Backend {
  /** Sends the request to another backend of the configuration, by name. */
  static use(name: string): void {
    host_set_backend(toBlock(name));
  }
  /** Sends the request to another base URL (`http(s)://host[:port][/path]`). */
  static useUrl(url: string): void {
    host_set_backend_url(toBlock(url));
  }
}

/** Lines in the gateway's log, naming the policy. */
export class Log {
  static debug(message: string): void {
    host_log(0, toBlock(message));
  }
  static info(message: string): void {
    host_log(1, toBlock(message));
  }
  static warn(message: string): void {
    host_log(2, toBlock(message));
  }
  static error(message: string): void {
    host_log(3, toBlock(message));
  }
}

/**
 * Counters with a time window, kept by the host across requests (per policy name and key). A
 * window starts with the first increment after the previous one ended.
 */
export class Counter {
  /**
   * Adds `delta` to `key` in its window of `windowMs`, unless that would pass `limit` (negative:
   * no limit). Returns the new count, or -1 when the increment was refused.
   */
  static add(key: string, windowMs: i64, delta: i64, limit: i64): i64 {
    return host_counter_add(toBlock(key), windowMs, delta, limit);
  }
  /** Milliseconds until the window of the last `add` in this call ends. */
  static resetMs(): i64 {
    return host_counter_reset_ms();
  }
  /**
   * Adds the bytes of this request's bodies to `key` (window `windowMs`, no limit) as they stream
   * (ABI 1.4): with `request`, the request body as it arrives from the client (including what was
   * already received); with `response`, the body of whatever answers the client. Chunked bodies
   * without Content-Length count the same. Read the total later with `add(key, windowMs, 0, -1)`.
   * The bandwidth of `quota` and `quota-by-key` is counted this way. Called in on_response, only
   * response bytes can still be counted.
   */
  static addBodyBytes(key: string, windowMs: i64, request: bool = true, response: bool = true): void {
    const which = (request ? 1 : 0) | (response ? 2 : 0);
    if (which != 0) host_counter_add_bytes(toBlock(key), windowMs, which);
  }
}

/**
 * Who is calling (ABI 1.4): `subscription.id`, `subscription.name`, `product.name` and
 * `jwt.claim.NAME` by name; null when absent (an anonymous call, no token validated) or unknown.
 * `Subscription`, `Product` and `Jwt` are typed shortcuts.
 */
export class Caller {
  static value(name: string): string | null {
    return fromBlock(host_context(toBlock(name)));
  }
}

/** The subscription the request's key belongs to (ABI 1.4); null for a call without one. */
export class Subscription {
  /** Its id, the one counters are kept by. */
  static id(): string | null {
    return Caller.value("subscription.id");
  }
  static name(): string | null {
    return Caller.value("subscription.name");
  }
}

/** The product the request's subscription belongs to (ABI 1.4). */
export class Product {
  /** Its name, or null when the call has no product. */
  static name(): string | null {
    return Caller.value("product.name");
  }
}

/** Claims of the token `validate-jwt` accepted for this request (ABI 1.4). */
export class Jwt {
  /**
   * A claim as text (numbers and booleans as text, arrays joined with ",", objects as JSON), or
   * null when there is no validated token or it has no such claim.
   */
  static claim(name: string): string | null {
    return Caller.value("jwt.claim." + name);
  }
}

/** A small key/value cache kept by the host across requests (per policy name), with a time to live. */
export class Cache {
  static get(key: string): string | null {
    return fromBlock(host_cache_get(toBlock(key)));
  }
  static set(key: string, value: string, ttlMs: i64): void {
    host_cache_set(toBlock(key), toBlock(value), ttlMs);
  }
}

/** Concurrency slots, given back by the host when the request's response is ready. */
export class Concurrency {
  /** Takes one of `max` slots for `key`; false when all are in use. */
  static acquire(key: string, max: i32): bool {
    return host_concurrency_acquire(toBlock(key), max) != 0;
  }
}

// Template parts: literal text, or a value pulled from the request when rendered.
const T_TEXT = 0;
const T_IP = 1;
const T_METHOD = 2;
const T_PATH = 3;
const T_QUERY_STRING = 4;
const T_HEADER = 5;
const T_QUERY = 6;
const T_ROUTE = 7;
const T_VARIABLE = 8;
const T_API = 9;
const T_OPERATION = 10;
const T_UNKNOWN = 11;
const T_CALLER = 12;

class Part {
  constructor(public kind: i32, public arg: string) {}
}

function partFor(name: string): Part {
  if (name == "request.ip") return new Part(T_IP, "");
  if (name == "request.method") return new Part(T_METHOD, "");
  if (name == "request.path") return new Part(T_PATH, "");
  if (name == "request.query") return new Part(T_QUERY_STRING, "");
  if (name == "api.name") return new Part(T_API, "");
  if (name == "operation.name") return new Part(T_OPERATION, "");
  if (name == "subscription.id" || name == "subscription.name" || name == "product.name") return new Part(T_CALLER, name);
  if (name.startsWith("jwt.claim.") && name.length > 10) return new Part(T_CALLER, name);
  if (name.startsWith("request.header.")) return new Part(T_HEADER, name.substring(15));
  if (name.startsWith("request.query.")) return new Part(T_QUERY, name.substring(14));
  if (name.startsWith("request.route.")) return new Part(T_ROUTE, name.substring(14));
  if (name.startsWith("context.variable.")) return new Part(T_VARIABLE, name.substring(17));
  if (!name.includes(".")) return new Part(T_ROUTE, name);
  return new Part(T_UNKNOWN, name);
}

/**
 * A parameter value with placeholders, parsed once and rendered per request: `{request.ip}`,
 * `{request.method}`, `{request.path}`, `{request.query}`, `{request.header.NAME}`,
 * `{request.query.NAME}`, `{request.route.NAME}` (or just `{NAME}`), `{context.variable.NAME}`,
 * `{api.name}`, `{operation.name}`, and since ABI 1.4 `{subscription.id}`, `{subscription.name}`,
 * `{product.name}`, `{jwt.claim.NAME}`; `{{` and `}}` stand for braces. An absent value renders as "".
 */
export class Template {
  parts: Part[] = [];
  /** True when the template has no placeholder (rendering costs nothing). */
  constant: bool = true;

  constructor(source: string) {
    let text = "";
    let i = 0;
    while (i < source.length) {
      const c = source.charAt(i);
      if (c == "{" && i + 1 < source.length && source.charAt(i + 1) == "{") {
        text += "{";
        i += 2;
      } else if (c == "}" && i + 1 < source.length && source.charAt(i + 1) == "}") {
        text += "}";
        i += 2;
      } else if (c == "{") {
        const end = source.indexOf("}", i + 1);
        if (end < 0) {
          text += source.substring(i);
          break;
        }
        if (text.length > 0) this.parts.push(new Part(T_TEXT, text));
        text = "";
        this.parts.push(partFor(source.substring(i + 1, end).trim()));
        this.constant = false;
        i = end + 1;
      } else {
        text += c;
        i++;
      }
    }
    if (text.length > 0 || this.parts.length == 0) this.parts.push(new Part(T_TEXT, text));
  }

  /** The template with this request's values; `encode` (0 none, 1 query component, 2 path) applies to pulled values. */
  render(encode: i32 = 0): string {
    if (this.constant) return this.parts[0].arg;
    let out = "";
    for (let i = 0; i < this.parts.length; i++) {
      const part = this.parts[i];
      if (part.kind == T_TEXT) {
        out += part.arg;
        continue;
      }
      const value = Template.value(part);
      out += encode == 1 ? percentEncode(value, false) : encode == 2 ? percentEncode(value, true) : value;
    }
    return out;
  }

  private static value(part: Part): string {
    let v: string | null = null;
    switch (part.kind) {
      case T_IP:
        return Request.clientIp();
      case T_METHOD:
        return Request.method();
      case T_PATH:
        return Request.path();
      case T_QUERY_STRING:
        return Request.queryString();
      case T_API:
        return Request.api();
      case T_OPERATION:
        return Request.operation();
      case T_HEADER:
        v = Request.header(part.arg);
        break;
      case T_QUERY:
        v = Request.query(part.arg);
        break;
      case T_ROUTE:
        v = Request.routeParam(part.arg);
        break;
      case T_VARIABLE:
        v = Context.get(part.arg);
        break;
      case T_CALLER:
        v = Caller.value(part.arg);
        break;
    }
    return v === null ? "" : v!;
  }
}

/**
 * Answers with a problem (RFC 9457) of type `urn:portico:problem:<kind>` (ABI 1.3): the host builds
 * it with the module that builds the gateway's own problems, so a policy's answer has the same shape
 * and headers (`application/problem+json`, `Cache-Control: no-store`). Headers given with
 * `Reply.header` (Retry-After) are kept. `kind` is letters, digits, `-`, `.`, `_` and `:`; a null
 * `detail` leaves the member out (an empty one is sent empty).
 */
export function problem(status: i32, kind: string, title: string, detail: string | null = null): void {
  host_reply_problem(status, toBlock(kind), toBlock(title), detail === null ? 0 : toBlock(detail!));
}

/**
 * What failed, for policies in the `on-error` section (ABI 1.2); null elsewhere. Fields: `source`
 * (the section that failed: inbound, backend or outbound), `reason` (the problem type's last part,
 * e.g. backend-unreachable, backend-timeout, policy-failed), `message`, `status` (of the error
 * answer), `policy` (the policy that failed, for policy-failed).
 */
export class LastError {
  static field(name: string): string | null {
    return fromBlock(host_last_error(toBlock(name)));
  }
}

/**
 * Request and response bodies (ABI 1.2), for policies whose configuration opts in
 * (`policies: { NAME: { module, body: { request: 64KiB, response: 64KiB } } }`): the host buffers the
 * body before the hook runs, up to that size (a larger request gets 413, a larger response 502).
 * Reading or replacing without opting in fails the call.
 */
export class Body {
  /** The request body, in on_request. */
  static request(): ArrayBuffer {
    return bytesFromBlock(host_request_body());
  }
  /** The request body as UTF-8 text. */
  static requestText(): string {
    return String.UTF8.decode(Body.request());
  }
  /** Replaces the request body the backend gets (its Content-Length follows). */
  static setRequest(body: ArrayBuffer): void {
    host_request_body_set(bytesToBlock(body));
  }
  /** Replaces the request body with UTF-8 text. */
  static setRequestText(body: string): void {
    Body.setRequest(String.UTF8.encode(body));
  }
  /** The response body, in on_response. */
  static response(): ArrayBuffer {
    return bytesFromBlock(host_response_body());
  }
  /** The response body as UTF-8 text. */
  static responseText(): string {
    return String.UTF8.decode(Body.response());
  }
  /** Replaces the response body the client gets (its Content-Length follows). */
  static setResponse(body: ArrayBuffer): void {
    host_response_body_set(bytesToBlock(body));
  }
  /** Replaces the response body with UTF-8 text. */
  static setResponseText(body: string): void {
    Body.setResponse(String.UTF8.encode(body));
  }
}
