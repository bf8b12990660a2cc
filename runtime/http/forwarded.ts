/**
 * The client behind trusted proxies (docs/edge-networking.md): when the connection comes from a
 * proxy the operator trusts (`net.server.http.forwarded.trusted-proxies`), the client's address is
 * read from the `Forwarded` (RFC 7239) or else the `X-Forwarded-For` header the proxy sent, by the
 * right-most-untrusted rule; with `net.server.http.forwarded.proto.enabled`, so are the scheme and
 * host it reports. Anything malformed falls back to the connection's peer.
 */
import { type IpRange, parseIp } from "../../config/schema/ip.ts";
import type { ClientFacts } from "../proxy/headers.ts";
import { isValidAuthority } from "./target.ts";
import { HTTP_TOKEN } from "../../config/schema/http-token.ts";

/** Most trusted hops walked past before the chain is given up on (the peer is then the client). */
export const MAX_TRUSTED_HOPS = 32;

/** One element of a `Forwarded` header: its `for`, `proto` and `host` parameters as sent (unquoted). */
export interface ForwardedElement {
  readonly for?: string;
  readonly proto?: string;
  readonly host?: string;
}

/**
 * Parses a `Forwarded` header value (RFC 7239 §4: elements separated by commas, `name=value` pairs
 * by semicolons, values tokens or quoted strings) into its elements; undefined when it does not
 * follow the grammar or repeats a parameter within an element.
 */
export function parseForwarded(value: string): ForwardedElement[] | undefined {
  const elements: ForwardedElement[] = [];
  let current: Record<string, string> = {};
  let i = 0;
  const n = value.length;
  const skipSpace = () => {
    while (i < n && (value[i] === " " || value[i] === "\t")) i++;
  };
  for (;;) {
    skipSpace();
    // Empty list elements (`a, , b`) are allowed by the list syntax (RFC 9110 §5.6.1).
    if (value[i] === "," || i === n) {
      if (Object.keys(current).length) elements.push(current);
      current = {};
      if (i === n) break;
      i++;
      continue;
    }
    const eq = value.indexOf("=", i);
    if (eq < 0) return undefined;
    const name = value.slice(i, eq).toLowerCase();
    if (!HTTP_TOKEN.test(name) || name in current) return undefined;
    i = eq + 1;
    let param: string;
    if (value[i] === '"') {
      param = "";
      i++;
      for (;;) {
        if (i >= n) return undefined;
        const c = value[i]!;
        if (c === '"') break;
        if (c === "\\") {
          if (i + 1 >= n) return undefined;
          param += value[i + 1];
          i += 2;
        } else {
          param += c;
          i++;
        }
      }
      i++;
    } else {
      let end = i;
      while (end < n && value[end] !== ";" && value[end] !== "," && value[end] !== " " && value[end] !== "\t") end++;
      param = value.slice(i, end);
      if (!HTTP_TOKEN.test(param)) return undefined;
      i = end;
    }
    current[name] = param;
    skipSpace();
    if (value[i] === ";") i++;
    else if (i < n && value[i] !== ",") return undefined;
  }
  return elements;
}

/** A parsed address: its text as the gateway reports it (IPv4-mapped IPv6 as plain IPv4) and its 128-bit value. */
export interface Address {
  readonly text: string;
  readonly value: bigint;
}

function address(text: string): Address | undefined {
  const value = parseIp(text);
  if (value === undefined) return undefined;
  const lower = text.toLowerCase();
  return { text: lower.startsWith("::ffff:") && lower.includes(".") ? lower.slice(7) : lower, value };
}

/**
 * The address in an `X-Forwarded-For` entry: an IPv4 address with an optional `:port`, an IPv6
 * address bare or in brackets with an optional `:port` (as some load balancers write them).
 */
export function xffAddress(entry: string): Address | undefined {
  const text = entry.trim();
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return undefined;
    const rest = text.slice(close + 1);
    if (rest && !/^:\d{1,5}$/.test(rest)) return undefined;
    return address(text.slice(1, close));
  }
  const colon = text.indexOf(":");
  // One colon: IPv4 with a port; more: a bare IPv6 address.
  if (colon >= 0 && colon === text.lastIndexOf(":")) {
    if (!/^\d{1,5}$/.test(text.slice(colon + 1))) return undefined;
    return address(text.slice(0, colon));
  }
  return address(text);
}

/**
 * The address in a `Forwarded` node (RFC 7239 §6): IPv4 with an optional port, or IPv6 in brackets
 * with an optional port, the port digits or an obfuscated `_name`. `unknown` and obfuscated
 * identifiers name no address: undefined, as for anything malformed.
 */
export function forwardedNodeAddress(node: string): Address | undefined {
  const port = /^(?:\d{1,5}|_[A-Za-z0-9._-]+)$/;
  if (node.startsWith("[")) {
    const close = node.indexOf("]");
    if (close < 0) return undefined;
    const rest = node.slice(close + 1);
    if (rest && !(rest[0] === ":" && port.test(rest.slice(1)))) return undefined;
    const inner = node.slice(1, close);
    return inner.includes(":") ? address(inner) : undefined;
  }
  const colon = node.indexOf(":");
  if (colon < 0) return node.includes(".") ? address(node) : undefined;
  if (colon !== node.lastIndexOf(":") || !port.test(node.slice(colon + 1))) return undefined;
  return address(node.slice(0, colon));
}

/**
 * The right-most-untrusted walk: `entries` are the hops a request passed through, the client's
 * first, each proxy appending the one it received the connection from; `parse` reads the address
 * of one. Walking from the right (the hop nearest the gateway), every trusted address is skipped;
 * the first untrusted one is the client. When every address is trusted, the left-most one is.
 * Returns the addresses from the client to the right end (the client first), or undefined when an
 * entry reached on the walk is not an address or more than `MAX_TRUSTED_HOPS` trusted hops were
 * passed: the chain then says nothing reliable. Entries left of the client are never parsed
 * (whoever sent them is not trusted, and a long list costs no more than a short one).
 */
export function walkChain<T>(entries: readonly T[], parse: (entry: T) => Address | undefined, trusts: (value: bigint) => boolean): Address[] | undefined {
  const walked: Address[] = [];
  for (let i = entries.length - 1; i >= 0; i--) {
    const hop = parse(entries[i]!);
    if (hop === undefined || walked.length > MAX_TRUSTED_HOPS) return undefined;
    walked.push(hop);
    if (!trusts(hop.value)) break;
  }
  return walked.length ? walked.reverse() : undefined;
}

/** The address of a `Forwarded` element's `for=` (undefined without one). */
function forwardedFor(element: ForwardedElement): Address | undefined {
  return element.for === undefined ? undefined : forwardedNodeAddress(element.for);
}

/** How the gateway treats forwarding headers, resolved from the `net.server.http.forwarded.*` settings. */
export interface ForwardedOptions {
  /** The proxies whose forwarding headers are believed (`net.server.http.forwarded.trusted-proxies`). */
  readonly trustedProxies: readonly IpRange[];
  /** Whether a trusted proxy's scheme and host are believed too (`net.server.http.forwarded.proto.enabled`). */
  readonly proto: boolean;
}

/**
 * Finds the client of a request from its peer and headers. Built once per listener and only when
 * some proxy is trusted: without one the gateway never constructs it, and the request path pays
 * one branch.
 */
export class TrustedProxies {
  readonly #ranges: readonly IpRange[];
  readonly #proto: boolean;

  constructor(options: ForwardedOptions) {
    this.#ranges = options.trustedProxies;
    this.#proto = options.proto;
  }

  /** Whether a 128-bit address is in a trusted range. */
  trusts = (value: bigint): boolean => {
    for (const range of this.#ranges) if (value >= range.from && value <= range.to) return true;
    return false;
  };

  /** Whether an address (text, as a socket reports it) is a trusted proxy; false when it is not an address. */
  trustsAddress(text: string): boolean {
    const value = parseIp(text);
    return value !== undefined && this.trusts(value);
  }

  /**
   * The client facts of a request: `peer` is the connection's address, `proto` the listener's
   * scheme, `authority` the one the request was routed by. From an untrusted peer, or when the
   * headers say nothing reliable, the peer is the client, exactly as without trusted proxies.
   */
  client(peer: string, headers: Headers, proto: string, authority: string): ClientFacts {
    const plain: ClientFacts = { ip: peer, proto, host: authority };
    if (!this.trustsAddress(peer)) return plain;
    const forwarded = headers.get("forwarded");
    let hops: Address[] | undefined;
    let elements: ForwardedElement[] | undefined;
    if (forwarded !== null) {
      elements = parseForwarded(forwarded);
      if (!elements) return plain;
      hops = walkChain(elements, forwardedFor, this.trusts);
    } else {
      const xff = headers.get("x-forwarded-for");
      if (xff === null) return plain;
      hops = walkChain(xff.split(","), xffAddress, this.trusts);
    }
    if (!hops) return plain;
    const chain: string[] = [];
    for (let i = 1; i < hops.length; i++) chain.push(hops[i]!.text);
    chain.push(peer);
    // The client's own element of Forwarded: the one the walk stopped at.
    const index = elements ? elements.length - hops.length : -1;
    let scheme = proto;
    let host = authority;
    if (this.#proto) {
      const claimed = elements ? elements[index]!.proto : headers.get("x-forwarded-proto") ?? undefined;
      const lower = claimed?.trim().toLowerCase();
      if (lower === "http" || lower === "https") scheme = lower;
      const claimedHost = elements ? elements[index]!.host : headers.get("x-forwarded-host") ?? undefined;
      if (claimedHost !== undefined && claimedHost.length <= 255 && isValidAuthority(claimedHost.trim())) host = claimedHost.trim();
    }
    return { ip: hops[0]!.text, proto: scheme, host, chain };
  }
}
