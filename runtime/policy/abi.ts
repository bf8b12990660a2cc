/**
 * Host side of policy ABI v1 (see policies-wasm/abi/README.md): the functions a policy imports
 * from `extism:host/user` to pull what it needs from the exchange and to change it. Strings cross
 * as Extism memory blocks (offset 0 = absent). Every function is synchronous: the hot path never
 * serialises a request, and no call awaits inside the guest.
 */
import type { CallContext } from "@extism/extism";
import { problemBody, problemHeaders } from "../http/problem.ts";
import type { Logger } from "../observability/log.ts";
import type { PolicyStateStore } from "./state.ts";
import type { PendingStore } from "../cache/pending.ts";
import type { RetryPlan } from "./retry.ts";
import type { ForwardPlan } from "./forward-request.ts";
import { callingExchange, callingText, ENV_OVERRIDES, guestBytes, type HostFunction, keep, MAX_BLOCK_BYTES, MAX_BODY_BYTES } from "./call-state.ts";
import { HTTP_TOKEN } from "../../config/schema/http-token.ts";

/** The part of one request/response exchange a policy can see and change, passed as Extism's host context. */
export interface PolicyExchange {
  readonly method: string;
  /** The request's trace id, when tracing is on: problem answers carry it as `traceId`. */
  readonly traceId?: string;
  /** Where a failed policy is noted for the request's access line and trace. */
  readonly record?: { policyFailed(policy: string): void };
  readonly path: string;
  /** Headers going to the backend (inbound) — already without hop-by-hop ones. */
  readonly requestHeaders: Headers;
  /** Headers going to the client; set once the backend has answered (outbound). */
  responseHeaders: Headers | undefined;
  /** An answer a policy gave instead of the backend's (return-response, check-header, ...); ends the chain. */
  reply?: PolicyReply;
  /** The path sent to the backend after its base URL ("" or starting with "/"); policies may rewrite it. */
  rest?: string;
  /** The query string sent to the backend, with its "?" (or ""), byte for byte until a policy changes it. */
  search?: string;
  /** Route parameters of the matched operation (`/{id}`), as they appeared in the path. */
  readonly params?: Readonly<Record<string, string>>;
  /** The client's address (IPv4 dotted or IPv6 text). */
  readonly clientIp?: string;
  /** The client's request body as it arrives, which a policy with request body access reads (buffered once). */
  readonly clientBody?: AsyncIterable<Uint8Array>;
  /** The backend's response body, once taken out of `upstreamResponse` (upstreamBodyOf, body.ts); a policy may replace it. */
  upstreamBody?: ReadableStream<Uint8Array> | null;
  /** The backend's response while nobody took its body (outbound): such a response goes on as it is, not wrapped again. */
  upstreamResponse?: Response;
  /** The request body, once buffered for a policy (and what goes to the backend from then on). */
  requestBody?: Uint8Array<ArrayBuffer>;
  /** The response body, once buffered for a policy (and what goes to the client from then on). */
  responseBody?: Uint8Array<ArrayBuffer>;
  /** The running policy's body limits (set by the chain; undefined: no body access). */
  bodyAccess?: { readonly request: number; readonly response: number };
  /** What failed, for policies of the on-error section (`portico_last_error`). */
  lastError?: Readonly<Record<"source" | "reason" | "message" | "status" | "policy", string>>;
  /** The client's certificate, on host names that negotiate one. */
  readonly clientCertificate?: { field(name: string): string | undefined };
  /** Name of the matched API. */
  readonly api?: string;
  /** The subscription the request's key belongs to (after the key check); undefined: anonymous. */
  readonly subscription?: { readonly id: string; readonly name: string };
  /** The product of that subscription (scope product:NAME), or of the API's open product for a call without a key. */
  readonly product?: string;
  /** Name of the matched operation, if the API lists operations. */
  readonly operation?: string;
  /** Backends a policy may switch to (`portico_set_backend`). */
  readonly backends?: { has(name: string): boolean };
  /** The backend a policy chose by name (set-backend-service `backend-id`). */
  backend?: string;
  /** The backend base URL a policy chose (set-backend-service `base-url`). */
  backendUrl?: string;
  /** The backend's status, in on_response. */
  status?: number;
  /**
   * Claims of a token validate-jwt accepted, as text (strings as they are, numbers and booleans as
   * text, arrays joined with ",", objects as JSON); undefined until one is accepted.
   */
  claims?: ReadonlyMap<string, string>;
  /** Per-request variables shared along the chain (`portico_var_get`/`_set`), made on first use. */
  variables?: Map<string, string>;
  /** Response header changes made before the response exists (in on_request), applied to it later. */
  deferred?: DeferredHeader[];
  /** Concurrency slots taken and body bytes buffered (BodyBuffers) during this exchange, given back when it ends. */
  releases?: (() => void)[];
  /** The policy being run (set by the chain): it namespaces counters, cache keys and log lines. */
  policy?: string;
  /** Where `portico_log` writes (debug lines are dropped: the gateway's log has no debug level). */
  readonly logger?: Logger;
  /** Milliseconds until the window of the last `portico_counter_add` ends. */
  counterResetMs?: number;
  /**
   * Counters the exchange's body bytes are added to as they stream (`portico_counter_add_bytes`,
   * ABI 1.4; bandwidth quotas): the proxy feeds them, see runtime/policy/byte-meters.ts.
   */
  meters?: ByteMeter[];
  /**
   * Where counters, cache entries and concurrency slots live: the gateway's store (one per process,
   * shared by every configuration, so counters survive swaps), or a test's. Without one, those
   * host functions fail the call.
   */
  readonly state?: PolicyStateStore;
  /** What cache-lookup left for cache-store: the key of a response it looked up and missed (runtime/cache/). */
  cache?: PendingStore;
  /** How the backend call is retried (the retry policy; docs/resilience.md). */
  retry?: RetryPlan;
  /** How the backend call is made (the forward-request policy; docs/resilience.md). */
  forwarding?: ForwardPlan;
}

/**
 * A counter that the bytes of an exchange's bodies are added to (no limit, in the counter's window)
 * as they pass: the request body as it arrives from the client, the response body as it goes to it.
 */
export interface ByteMeter {
  /** The counter's key in the state store, already namespaced by the policy. */
  readonly key: string;
  readonly windowMs: number;
  /** Whether request body bytes count; whether response body bytes count. */
  request: boolean;
  response: boolean;
  /**
   * Where the bytes go instead of the exchange's store, when the policy's counters are shared
   * through Redis (runtime/policy/shared-step.ts); `now` is `Date.now()`.
   */
  shared?: (bytes: number, now: number) => void;
}

/** Most byte counters one exchange may feed (each costs a counter update per body chunk). */
export const MAX_METERS = 8;

/** `portico_counter_add_bytes` flags: request body, response body. */
const METER_REQUEST = 1;
const METER_RESPONSE = 2;

/**
 * A value about the caller (`portico_context`, ABI 1.4; templates `{subscription.id}`, ...):
 * `subscription.id`, `subscription.name`, `product.name`, `jwt.claim.NAME`; undefined when the
 * exchange has none (an anonymous call, no validated token) or the name is not one of these.
 */
export function contextValue(ex: PolicyExchange, name: string): string | undefined {
  switch (name) {
    case "subscription.id":
      return ex.subscription?.id;
    case "subscription.name":
      return ex.subscription?.name;
    case "product.name":
      return ex.product;
  }
  if (name.startsWith("jwt.claim.") && name.length > 10) return ex.claims?.get(name.slice(10));
  return undefined;
}

/** A response header change recorded in on_request: set, append or remove. */
export type DeferredHeader = readonly ["set" | "append" | "remove", string, string];

/** A response made by a policy. */
export interface PolicyReply {
  status: number;
  readonly headers: Headers;
  body: string;
  /** A body as bytes, sent instead of `body` (a response from the cache). */
  bytes?: Uint8Array<ArrayBuffer>;
}

/** Longest header name or value, query parameter, path, variable or key a policy may hand over, in bytes. */
const MAX_TEXT_BYTES = 16 * 1024;
/** The exchange of the call that is running (see beginCall). */
function exchange(_context: CallContext): PolicyExchange {
  return callingExchange();
}

/**
 * A 64-bit argument split into 32-bit halves through a DataView: BigInt arithmetic allocates and
 * costs about 100 ns per argument on Bun, this about 20. Bit 63 of the high half marks a reference
 * into the module's own memory (`1 << 63 | length << 32 | pointer`, ABI 1.1) instead of an Extism block.
 */
const argument = new DataView(new ArrayBuffer(8));
const IN_MEMORY_BIT = 0x80000000;

/** Where the last reference `located` found its bytes: the module's memory and the start in it (set by `located`, read right after). */
let locatedMemory: Uint8Array = new Uint8Array(0);
let locatedPointer = 0;

/**
 * The length of the bytes a reference into the module's memory names, their start left in
 * `locatedPointer`; -1 for an Extism block. Nothing is allocated: a string read through a view
 * and a decoder per call was most of a host call's cost in the gateway.
 */
function located(offset: bigint | number | undefined, limit: number, what: string): number {
  argument.setBigUint64(0, BigInt(offset ?? 0), true);
  const high = argument.getUint32(4, true);
  if (!(high & IN_MEMORY_BIT)) return -1;
  const length = high & 0x7fffffff;
  if (length > limit) throw new Error(`policy passed ${what} of ${length} bytes; the limit is ${limit}`);
  const pointer = argument.getUint32(0, true);
  const memory = guestBytes();
  if (pointer + length > memory.length) throw new Error(`policy passed ${what} outside its memory`);
  locatedMemory = memory;
  locatedPointer = pointer;
  return length;
}

function text(context: CallContext, offset: bigint | number | undefined, limit = MAX_TEXT_BYTES, what = "a string"): string {
  const length = located(offset, limit, what);
  if (length >= 0) return callingText(locatedMemory, locatedPointer, length);
  const address = BigInt(offset ?? 0);
  const blockLength = Number(context.length(address));
  if (blockLength > limit) throw new Error(`policy passed ${what} of ${blockLength} bytes; the limit is ${limit}`);
  const block = address ? context.read(address) : null;
  if (!block) throw new Error("policy passed an invalid memory offset");
  return block.text();
}

/** Bytes a policy passed (a block or, since 1.1, a reference into its memory), copied out; at most `limit`. */
function bytes(context: CallContext, offset: bigint | number | undefined, limit: number, what: string): Uint8Array<ArrayBuffer> {
  if (!offset) return new Uint8Array(0);
  const inMemory = located(offset, limit, what);
  if (inMemory >= 0) return locatedMemory.slice(locatedPointer, locatedPointer + inMemory);
  const address = BigInt(offset);
  const length = Number(context.length(address));
  if (length > limit) throw new Error(`policy passed ${what} of ${length} bytes; the limit is ${limit}`);
  const block = context.read(address);
  if (!block) throw new Error("policy passed an invalid memory offset");
  return block.bytes().slice();
}

/** The running policy's limit for a body, or an error naming the setting that opts in to it. */
function bodyLimit(ex: PolicyExchange, which: "request" | "response"): number {
  const limit = ex.bodyAccess?.[which] ?? 0;
  if (!limit) throw new Error(`policy reads the ${which} body without opting in (policies.${ex.policy ?? "NAME"}.body.${which})`);
  return limit;
}

function headerName(context: CallContext, offset: bigint | number | undefined): string {
  return text(context, offset, MAX_TEXT_BYTES, "a header name");
}

function headerValue(context: CallContext, offset: bigint | number | undefined): string {
  return text(context, offset, MAX_TEXT_BYTES, "a header value");
}

function stored(context: CallContext, value: string | null | undefined): bigint {
  return value === null || value === undefined ? 0n : keep(context).store(value);
}

/** The exchange's state store; a call that needs one where there is none fails. */
function stateOf(ex: PolicyExchange): PolicyStateStore {
  if (!ex.state) throw new Error("counters, cache and concurrency slots are not available here (no state store)");
  return ex.state;
}

function reply(context: CallContext): PolicyReply {
  const ex = exchange(context);
  return (ex.reply ??= { status: 200, headers: new Headers(), body: "" });
}

function status(value: bigint | number): number {
  const code = Number(value);
  if (!Number.isInteger(code) || code < 200 || code > 599) throw new Error(`a policy answered with status ${code}; expected 200 to 599`);
  return code;
}

// The kind of a policy's problem ends its `type` URI (`urn:portico:problem:<kind>`): letters,
// digits and `-`, `.`, `_`, `:` (RFC 8141 name characters, nothing to escape), starting with a letter or digit.
const PROBLEM_KIND = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

const HEADER_VALUE = /^[^\x00\x0a\x0d]*$/;

/** In on_request the response does not exist yet: changes are recorded and applied to whatever answers. */
function deferHeader(context: CallContext, op: DeferredHeader[0], name: string, value = ""): void {
  if (!HTTP_TOKEN.test(name)) throw new Error(`policy set an invalid header name ${JSON.stringify(name.slice(0, 40))}`);
  if (!HEADER_VALUE.test(value)) throw new Error(`policy set header ${name} to a value with a line break or NUL`);
  (exchange(context).deferred ??= []).push([op, name, value]);
}

function responseHeaderChange(op: DeferredHeader[0]): HostFunction {
  return (cx, name, value) => {
    const key = headerName(cx, name);
    const val = op === "remove" ? "" : headerValue(cx, value);
    const headers = exchange(cx).responseHeaders;
    if (!headers) return deferHeader(cx, op, key, val);
    if (op === "set") headers.set(key, val);
    else if (op === "append") headers.append(key, val);
    else headers.delete(key);
  };
}

/** Applies recorded response header changes to a response's headers. */
export function applyDeferred(headers: Headers, changes: readonly DeferredHeader[]): void {
  for (const [op, name, value] of changes) {
    if (op === "set") headers.set(name, value);
    else if (op === "append") headers.append(name, value);
    else headers.delete(name);
  }
}

/** The query as parameters, once a policy reads one by name or changes it. */
function query(ex: PolicyExchange): URLSearchParams {
  return new URLSearchParams(ex.search ?? "");
}

function setQuery(ex: PolicyExchange, params: URLSearchParams): void {
  const text = params.toString();
  ex.search = text ? `?${text}` : "";
}

// A path for the backend: absolute, no query or fragment, no whitespace or control characters, and
// no dot segments (plain or percent-encoded), so a route parameter cannot climb out of the backend's base.
const BACKEND_PATH = /^\/[^?#\s\x00-\x1f\x7f]*$/;
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|$)/i;

function backendPath(path: string): string {
  if (!BACKEND_PATH.test(path)) {
    throw new Error(`policy set the backend path to ${JSON.stringify(path.slice(0, 80))}; expected "/..." without ?, # or whitespace`);
  }
  if (DOT_SEGMENT.test(path)) throw new Error(`policy set the backend path to ${JSON.stringify(path.slice(0, 80))}, which has a dot segment`);
  return path;
}

const QUERY_STRING = /^[^#\s\x00-\x1f\x7f]*$/;

function namespaced(ex: PolicyExchange, key: string): string {
  return `${ex.policy ?? ""}\u0000${key}`;
}

/** `portico_log` levels 1-3 (0, debug, is dropped). */
const LEVELS = [undefined, "info", "warn", "error"] as const;

function backendUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`policy set the backend URL to ${JSON.stringify(url.slice(0, 80))}, which is not a URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new Error(`policy set a backend URL with protocol ${parsed.protocol}; expected http or https`);
  }
  if (parsed.search || parsed.hash || parsed.username || parsed.password) throw new Error("policy set a backend URL with a query, fragment or credentials");
  return url;
}

/** The host functions of ABI v1, by import name. */
export const HOST_FUNCTIONS: Readonly<Record<string, HostFunction>> = {
  // 1.0
  portico_request_method: (cx) => stored(cx, exchange(cx).method),
  portico_request_path: (cx) => stored(cx, exchange(cx).path),
  portico_request_header: (cx, name) => stored(cx, exchange(cx).requestHeaders.get(headerName(cx, name))),
  portico_request_header_set: (cx, name, value) => exchange(cx).requestHeaders.set(headerName(cx, name), headerValue(cx, value)),
  portico_request_header_append: (cx, name, value) => exchange(cx).requestHeaders.append(headerName(cx, name), headerValue(cx, value)),
  portico_request_header_remove: (cx, name) => exchange(cx).requestHeaders.delete(headerName(cx, name)),
  portico_response_header: (cx, name) => {
    const headers = exchange(cx).responseHeaders;
    return headers ? stored(cx, headers.get(headerName(cx, name))) : 0n;
  },
  portico_response_header_set: responseHeaderChange("set"),
  portico_response_header_append: responseHeaderChange("append"),
  portico_response_header_remove: responseHeaderChange("remove"),
  portico_reply: (cx, code, body) => {
    const answer = reply(cx);
    answer.status = status(code!);
    answer.body = body ? text(cx, body, MAX_BODY_BYTES, "a reply body") : "";
  },
  portico_reply_header: (cx, name, value) => reply(cx).headers.append(headerName(cx, name), headerValue(cx, value)),

  // 1.3: a problem+json answer made by the host's problem module, the same as the gateway's own
  portico_reply_problem: (cx, code, kind, title, detail) => {
    const problem = {
      status: status(code!),
      kind: text(cx, kind, MAX_TEXT_BYTES, "a problem kind"),
      title: text(cx, title, MAX_TEXT_BYTES, "a problem title"),
      detail: detail ? text(cx, detail, MAX_BODY_BYTES, "a problem detail") : undefined,
    };
    if (!PROBLEM_KIND.test(problem.kind)) {
      throw new Error(`policy answered with the problem kind ${JSON.stringify(problem.kind.slice(0, 40))}; expected letters, digits, "-", ".", "_" or ":"`);
    }
    const answer = reply(cx);
    answer.status = problem.status;
    const traceId = exchange(cx).traceId;
    answer.body = problemBody(traceId === undefined ? problem : { ...problem, extensions: { traceId } });
    for (const [name, value] of problemHeaders(problem)) answer.headers.set(name, value);
  },

  // 1.1: whole strings in one call, instead of one `load_u64`/`store_u64` per 8 bytes
  portico_block_new: (cx, pointer, length) => {
    const size = Number(length);
    if (size > MAX_BLOCK_BYTES) throw new Error(`policy tried to allocate ${size} bytes of host memory; the limit is ${MAX_BLOCK_BYTES}`);
    const start = Number(pointer);
    const bytes = guestBytes().subarray(start, start + size);
    if (bytes.length !== size) throw new Error("policy passed a string outside its memory");
    // Allocated through the checked `alloc`, so the call's Extism memory limit holds.
    const offset = ENV_OVERRIDES.alloc!(cx, BigInt(size)) as bigint;
    // In-process, a block read is a view of the block's own buffer: writing it fills the block.
    if (size) new Uint8Array(cx.read(offset)!.arrayBuffer()).set(bytes);
    return offset;
  },
  portico_block_copy: (cx, offset, pointer) => {
    const block = cx.read(BigInt(offset));
    if (!block) throw new Error("policy passed an invalid memory offset");
    guestBytes().set(new Uint8Array(block.arrayBuffer()), Number(pointer));
  },

  // 1.1: query, route, client, variables, backend, log, state
  portico_request_query: (cx, name) => {
    const ex = exchange(cx);
    return ex.search ? stored(cx, query(ex).get(text(cx, name))) : 0n;
  },
  portico_request_query_string: (cx) => stored(cx, (exchange(cx).search ?? "").slice(1)),
  portico_request_query_set: (cx, name, value) => {
    const ex = exchange(cx);
    const params = query(ex);
    params.set(text(cx, name), text(cx, value));
    setQuery(ex, params);
  },
  portico_request_query_append: (cx, name, value) => {
    const ex = exchange(cx);
    const params = query(ex);
    params.append(text(cx, name), text(cx, value));
    setQuery(ex, params);
  },
  portico_request_query_remove: (cx, name) => {
    const ex = exchange(cx);
    if (!ex.search) return;
    const params = query(ex);
    const key = text(cx, name);
    if (!params.has(key)) return;
    params.delete(key);
    setQuery(ex, params);
  },
  portico_request_query_string_set: (cx, value) => {
    const raw = text(cx, value, MAX_TEXT_BYTES, "a query string");
    if (!QUERY_STRING.test(raw)) throw new Error("policy set a query string with whitespace, # or control characters");
    const bare = raw.startsWith("?") ? raw.slice(1) : raw;
    exchange(cx).search = bare ? `?${bare}` : "";
  },
  portico_request_path_set: (cx, value) => {
    exchange(cx).rest = backendPath(text(cx, value, MAX_TEXT_BYTES, "a path"));
  },
  portico_request_route_param: (cx, name) => {
    const params = exchange(cx).params;
    if (!params) return 0n;
    const key = text(cx, name);
    return Object.hasOwn(params, key) ? stored(cx, params[key]) : 0n;
  },
  portico_client_ip: (cx) => stored(cx, exchange(cx).clientIp),
  portico_client_certificate: (cx, name) => stored(cx, exchange(cx).clientCertificate?.field(text(cx, name))),
  portico_request_body: (cx) => {
    const ex = exchange(cx);
    bodyLimit(ex, "request");
    return ex.requestBody && ex.requestBody.length ? keep(cx).store(ex.requestBody) : 0n;
  },
  portico_request_body_set: (cx, body) => {
    const ex = exchange(cx);
    ex.requestBody = bytes(cx, body, bodyLimit(ex, "request"), "a request body");
  },
  portico_response_body: (cx) => {
    const ex = exchange(cx);
    bodyLimit(ex, "response");
    return ex.responseBody && ex.responseBody.length ? keep(cx).store(ex.responseBody) : 0n;
  },
  portico_response_body_set: (cx, body) => {
    const ex = exchange(cx);
    if (!ex.responseHeaders) throw new Error("policy set the response body before there is a response (use it in on_response)");
    ex.responseBody = bytes(cx, body, bodyLimit(ex, "response"), "a response body");
  },
  portico_last_error: (cx, name) => {
    const error = exchange(cx).lastError;
    const field = text(cx, name);
    return error && Object.hasOwn(error, field) ? stored(cx, error[field as keyof typeof error]) : 0n;
  },
  portico_route_api: (cx) => stored(cx, exchange(cx).api),
  portico_route_operation: (cx) => stored(cx, exchange(cx).operation),
  portico_response_status: (cx) => exchange(cx).status ?? 0,
  portico_var_get: (cx, name) => stored(cx, exchange(cx).variables?.get(text(cx, name))),
  portico_var_set: (cx, name, value) => {
    const ex = exchange(cx);
    (ex.variables ??= new Map()).set(text(cx, name), text(cx, value));
  },
  portico_set_backend: (cx, name) => {
    const ex = exchange(cx);
    const backend = text(cx, name);
    if (!ex.backends?.has(backend)) throw new Error(`policy chose the unknown backend ${JSON.stringify(backend.slice(0, 80))}`);
    ex.backend = backend;
    ex.backendUrl = undefined;
  },
  portico_set_backend_url: (cx, url) => {
    const ex = exchange(cx);
    ex.backendUrl = backendUrl(text(cx, url));
    ex.backend = undefined;
  },
  portico_log: (cx, level, message) => {
    const ex = exchange(cx);
    const line = text(cx, message, MAX_TEXT_BYTES, "a log message");
    const name = LEVELS[Math.max(0, Math.min(3, Number(level)))];
    if (name && ex.logger) ex.logger[name](line, { policy: ex.policy });
  },
  portico_counter_add: (cx, key, windowMs, delta, limit) => {
    const ex = exchange(cx);
    const window = Number(windowMs);
    if (!(window > 0)) throw new Error(`policy asked for a counter window of ${window} ms`);
    const result = stateOf(ex).counterAdd(namespaced(ex, text(cx, key)), window, Number(delta), Number(limit), Date.now());
    ex.counterResetMs = result.resetMs;
    return BigInt(result.accepted ? result.count : -1);
  },
  portico_counter_reset_ms: (cx) => BigInt(exchange(cx).counterResetMs ?? 0),

  // 1.4: who is calling, and bandwidth counting
  portico_context: (cx, name) => stored(cx, contextValue(exchange(cx), text(cx, name))),
  portico_counter_add_bytes: (cx, key, windowMs, which) => {
    const ex = exchange(cx);
    const window = Number(windowMs);
    if (!(window > 0)) throw new Error(`policy asked for a counter window of ${window} ms`);
    const flags = Number(which);
    if (flags < 1 || flags > (METER_REQUEST | METER_RESPONSE)) {
      throw new Error(`policy asked to count body bytes with flags ${flags}; expected 1 (request), 2 (response) or 3 (both)`);
    }
    stateOf(ex);
    const stateKey = namespaced(ex, text(cx, key));
    const meters = (ex.meters ??= []);
    let meter = meters.find((m) => m.key === stateKey && m.windowMs === window);
    if (!meter) {
      if (meters.length >= MAX_METERS) throw new Error(`policy asked to count body bytes into more than ${MAX_METERS} counters for one request`);
      meters.push(meter = { key: stateKey, windowMs: window, request: false, response: false });
    }
    if (flags & METER_REQUEST) meter.request = true;
    if (flags & METER_RESPONSE) meter.response = true;
  },
  portico_cache_get: (cx, key) => {
    const ex = exchange(cx);
    return stored(cx, stateOf(ex).cacheGet(namespaced(ex, text(cx, key)), Date.now()));
  },
  portico_cache_set: (cx, key, value, ttlMs) => {
    const ex = exchange(cx);
    stateOf(ex).cacheSet(namespaced(ex, text(cx, key)), text(cx, value, MAX_TEXT_BYTES * 4, "a cache value"), Number(ttlMs), Date.now());
  },
  portico_concurrency_acquire: (cx, key, max) => {
    const ex = exchange(cx);
    const release = stateOf(ex).acquire(namespaced(ex, text(cx, key)), Number(max));
    if (!release) return 0;
    (ex.releases ??= []).push(release);
    return 1;
  },
};

/** The namespace policies import host functions from (the one Extism's PDKs use for `host_fn`). */
export const HOST_NAMESPACE = "extism:host/user";
