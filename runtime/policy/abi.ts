/**
 * Host side of policy ABI v1 (see policies-wasm/abi/README.md): the functions a policy imports
 * from `extism:host/user` to pull what it needs from the exchange and to change it. Strings cross
 * as Extism memory blocks (offset 0 = absent). Every function is synchronous: the hot path never
 * serialises a request, and no call awaits inside the guest.
 */
import type { CallContext } from "@extism/extism";

/** The part of one request/response exchange a policy can see and change, passed as Extism's host context. */
export interface PolicyExchange {
  readonly method: string;
  readonly path: string;
  /** Headers going to the backend (inbound) — already without hop-by-hop ones. */
  readonly requestHeaders: Headers;
  /** Headers going to the client; set once the backend has answered (outbound). */
  responseHeaders: Headers | undefined;
  /** An answer a policy gave instead of the backend's (return-response, check-header, ...); ends the chain. */
  reply?: PolicyReply;
}

/** A response made by a policy. */
export interface PolicyReply {
  status: number;
  readonly headers: Headers;
  body: string;
}

type HostFunction = (context: CallContext, ...args: bigint[]) => bigint | void;

function exchange(context: CallContext): PolicyExchange {
  return context.hostContext<PolicyExchange>();
}

function text(context: CallContext, offset: bigint): string {
  const block = context.read(offset);
  if (!block) throw new Error("policy passed an invalid memory offset");
  return block.text();
}

function stored(context: CallContext, value: string | null | undefined): bigint {
  return value === null || value === undefined ? 0n : context.store(value);
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

function responseHeaders(context: CallContext): Headers {
  const headers = exchange(context).responseHeaders;
  if (!headers) throw new Error("response headers are only available in on_response");
  return headers;
}

/** The host functions of ABI v1, by import name. */
export const HOST_FUNCTIONS: Readonly<Record<string, HostFunction>> = {
  portico_request_method: (cx) => stored(cx, exchange(cx).method),
  portico_request_path: (cx) => stored(cx, exchange(cx).path),
  portico_request_header: (cx, name) => stored(cx, exchange(cx).requestHeaders.get(text(cx, name!))),
  portico_request_header_set: (cx, name, value) => exchange(cx).requestHeaders.set(text(cx, name!), text(cx, value!)),
  portico_request_header_append: (cx, name, value) => exchange(cx).requestHeaders.append(text(cx, name!), text(cx, value!)),
  portico_request_header_remove: (cx, name) => exchange(cx).requestHeaders.delete(text(cx, name!)),
  portico_response_header: (cx, name) => stored(cx, responseHeaders(cx).get(text(cx, name!))),
  portico_response_header_set: (cx, name, value) => responseHeaders(cx).set(text(cx, name!), text(cx, value!)),
  portico_response_header_append: (cx, name, value) => responseHeaders(cx).append(text(cx, name!), text(cx, value!)),
  portico_response_header_remove: (cx, name) => responseHeaders(cx).delete(text(cx, name!)),
  portico_reply: (cx, code, body) => {
    const answer = reply(cx);
    answer.status = status(code!);
    answer.body = body ? text(cx, body) : "";
  },
  portico_reply_header: (cx, name, value) => reply(cx).headers.append(text(cx, name!), text(cx, value!)),
};

/** The namespace policies import host functions from (the one Extism's PDKs use for `host_fn`). */
export const HOST_NAMESPACE = "extism:host/user";
