import { NodeBodyResponse } from "../upstream/node-body.ts";
import type { IncomingHeaders, OutgoingHeaders } from "../upstream/header-fields.ts";
import { HTTP_TOKEN } from "../../config/schema/http-token.ts";

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy ones proxies also drop; never forwarded either way. */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/**
 * Request headers never forwarded: the hop-by-hop ones, `Host` (the backend's own host is sent;
 * the routed authority goes in the forwarding headers) and `Expect` (the listener has already
 * answered `Expect: 100-continue`, or will as the body is read; the backend call is a new exchange,
 * and undici refuses requests that carry the header).
 */
const NOT_FORWARDED: ReadonlySet<string> = new Set([...HOP_BY_HOP, "host", "expect"]);

/** The header names a `Connection` header lists (hop-by-hop for this connection), lower case. */
function connectionTokens(connection: string): string[] {
  const names: string[] = [];
  for (const token of connection.split(",")) {
    const name = token.trim().toLowerCase();
    if (name) names.push(name);
  }
  return names;
}

/** Removes hop-by-hop headers, including every header the `Connection` header names (a backend's response). */
function stripHopByHop(headers: Headers): void {
  const connection = headers.get("connection");
  if (connection) { for (const name of connectionTokens(connection)) headers.delete(name); }
  for (const name of HOP_BY_HOP) headers.delete(name);
}

/** Facts about the client connection that the forwarding headers carry to the backend. */
export interface ClientFacts {
  readonly ip: string;
  /** `http` or `https`: the protocol of the listener that took the request. */
  readonly proto: string;
  /**
   * The authority the request was routed by: an absolute-form target's, which wins over `Host`
   * (RFC 9112 §3.2.2), else the `Host` header's. Defaults to the `Host` header.
   */
  readonly host?: string;
  /**
   * Behind trusted proxies (runtime/http/forwarded.ts): the hops from the client to the gateway,
   * after the client and ending with the connection's peer. The backend then gets the client and
   * these in `X-Forwarded-For` and `Forwarded`, instead of the peer alone.
   */
  readonly chain?: readonly string[];
}

function forwardedNode(ip: string): string {
  return ip.includes(":") ? `"[${ip}]"` : ip;
}

/** The last host `forwardedValue` was asked for and its answer: a gateway's requests mostly name one or a few. */
let lastForwarded = "";
let lastForwardedValue = `""`;

/** A token as it is, anything else as a quoted string (RFC 7239 §4). */
function forwardedValue(value: string): string {
  if (value === lastForwarded) return lastForwardedValue;
  const answer = HTTP_TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, "\\$&")}"`;
  lastForwarded = value;
  lastForwardedValue = answer;
  return answer;
}

/**
 * Headers for the backend request: the client's headers without hop-by-hop ones and without
 * `Host` (the backend's own host is sent; the routed authority goes in the forwarding headers) and `Expect`, with `X-Forwarded-For/-Proto/-Host` and `Forwarded`
 * set by the gateway. Client-supplied forwarding headers are replaced, not trusted; behind trusted
 * proxies (`client.chain`) the backend gets the client followed by the trusted hops and the peer.
 * `Accept-Encoding: identity` is sent when the client named no encoding, so the runtime's
 * client never negotiates a compression the client did not ask for. Read from web Headers or the
 * fields as the listener parsed them (a RawHeaderList); written into `headers`: new web Headers
 * unless the caller gives another (a HeaderFields record for undici).
 */
export function upstreamRequestHeaders<H extends OutgoingHeaders = Headers>(incoming: IncomingHeaders, client: ClientFacts, headers?: H): H {
  // One pass over the client's headers, keeping what goes on: copying them all and deleting a dozen
  // names afterwards cost Deno about 24 µs for a browser's ten headers (each delete scans them),
  // Node about 4 µs, Bun about the same either way (bench/RESULTS.md, 2026-12-04 12:30).
  const connection = incoming.get("connection");
  const named = connection ? connectionTokens(connection) : undefined;
  const out = headers ?? (new Headers() as OutgoingHeaders as H);
  let sent: string | null = null;
  let encoding = false;
  incoming.forEach((value, name) => {
    if (named !== undefined && named.includes(name)) return;
    if (NOT_FORWARDED.has(name)) {
      // The Host header as sent, unless the request was routed by another authority (absolute form).
      if (name === "host") sent = value;
      return;
    }
    // Every X-Forwarded-* the client sent (-Port, -Prefix, -Server, ...) is dropped, not only the ones set below.
    if (name.startsWith("x-forwarded-")) return;
    if (name === "accept-encoding") encoding = true;
    out.append(name, value);
  });
  const host = !client.host || client.host === sent || (sent !== null && (sent as string).toLowerCase() === client.host.toLowerCase()) ? sent : client.host;
  out.set("x-forwarded-proto", client.proto);
  let forwarded = `for=${forwardedNode(client.ip)};proto=${client.proto}`;
  if (host) {
    out.set("x-forwarded-host", host);
    forwarded += `;host=${forwardedValue(host)}`;
  }
  if (client.chain) {
    let xff = client.ip;
    for (const hop of client.chain) {
      xff += `, ${hop}`;
      forwarded += `, for=${forwardedNode(hop)}`;
    }
    out.set("x-forwarded-for", xff);
  } else out.set("x-forwarded-for", client.ip);
  out.set("forwarded", forwarded);
  if (!encoding) out.set("accept-encoding", "identity");
  return out;
}

/** True when a backend's headers carry nothing hop-by-hop, so the response can be passed on as it is. */
export function isEndToEnd(headers: Headers): boolean {
  for (const name of HOP_BY_HOP) if (headers.has(name)) return false;
  return true;
}

/** `isEndToEnd` of a response's headers, read from undici's fields when a NodeBodyResponse still has them. */
export function responseIsEndToEnd(response: Response): boolean {
  const raw = response instanceof NodeBodyResponse ? response.rawFields() : undefined;
  if (!raw) return isEndToEnd(response.headers);
  for (const name of HOP_BY_HOP) if (raw[name] !== undefined) return false;
  return true;
}

/** Headers for the client response: the backend's headers without hop-by-hop ones. */
export function clientResponseHeaders(upstream: Headers): Headers {
  const headers = new Headers(upstream);
  stripHopByHop(headers);
  return headers;
}

/**
 * Whether this runtime lets a Response's headers be changed whatever made it: true on Bun; false
 * where, as the Fetch standard says, a fetched (or `Response.error()`) response's headers are
 * immutable (Node, Deno). Probed once.
 */
export const RESPONSE_HEADERS_UNGUARDED: boolean = (() => {
  try {
    Response.error().headers.set("x-portico-probe", "1");
    return true;
  } catch {
    return false;
  }
})();

/**
 * The client response's headers for the outbound policies to edit: the backend response's own,
 * without hop-by-hop ones, where they may be changed in place and are what the client is sent
 * (RESPONSE_HEADERS_UNGUARDED, and not a NodeBodyResponse, which is written from undici's fields);
 * else a copy (clientResponseHeaders). When they are the response's own, the response can go on as
 * it is: its body is not taken out and wrapped in a new Response (measured on Bun: about 0.7 µs of a
 * Headers copy and 2.6 µs of a Response made around a fetched body per request).
 */
export function editableResponseHeaders(response: Response): Headers {
  if (!RESPONSE_HEADERS_UNGUARDED || response instanceof NodeBodyResponse) return clientResponseHeaders(response.headers);
  const headers = response.headers;
  stripHopByHop(headers);
  return headers;
}
