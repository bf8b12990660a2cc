/**
 * The egress proxy's values as the settings (`net.client.proxy.*`) and the standard variables
 * (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`) give them: a forward proxy's URL and the list of hosts
 * reached directly. Parsed here once, so a setting and a variable mean exactly the same thing and
 * a bad value is refused at start with its key (see docs/egress-proxy.md).
 */
import { isIP } from "node:net";

/** A forward proxy the gateway sends requests through. */
export interface ProxyEndpoint {
  /** `http://host:port`, without user info: the only form ever shown (logs, errors). */
  readonly origin: string;
  /** `Basic …` from the URL's user and password, sent as `Proxy-Authorization`; undefined without them. */
  readonly authorization: string | undefined;
}

/** One entry of a no-proxy list: which hosts it exempts, on which port (undefined: any). */
export type NoProxyRule =
  /** `*`: every host. */
  | { readonly kind: "all" }
  /** A host name: itself and every name under it (`example.com`, `.example.com` and `*.example.com` alike). */
  | { readonly kind: "domain"; readonly name: string; readonly port?: number }
  /** An IP address or a CIDR block (`10.0.0.0/8`, `fd00::/8`); an address is a block of one. */
  | { readonly kind: "cidr"; readonly address: string; readonly prefix: number; readonly family: "ipv4" | "ipv6"; readonly port?: number };

const PROXY_EXAMPLE = "http://proxy.example:3128";

/**
 * Reads a forward proxy's URL: `http://[user:password@]host[:port]` (a value without a scheme is
 * taken as http://; without a port, 80). Only plain-HTTP proxies are supported: the
 * gateway's TLS to an https backend runs inside the CONNECT tunnel either way.
 */
export function parseProxyUrl(value: string): { ok: true; proxy: ProxyEndpoint } | { ok: false; message: string } {
  const text = value.trim();
  let url: URL;
  try {
    url = new URL(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text) ? text : `http://${text}`);
  } catch {
    return { ok: false, message: `expected a proxy URL such as ${PROXY_EXAMPLE}` };
  }
  if (url.protocol !== "http:") {
    return { ok: false, message: `expected an http:// proxy URL such as ${PROXY_EXAMPLE} (${url.protocol}// proxies are not supported)` };
  }
  if (!url.hostname) return { ok: false, message: `expected a proxy URL with a host, such as ${PROXY_EXAMPLE}` };
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    return { ok: false, message: `a proxy URL has no path, query or fragment, such as ${PROXY_EXAMPLE}` };
  }
  let authorization: string | undefined;
  if (url.username || url.password) {
    let user: string;
    let password: string;
    try {
      user = decodeURIComponent(url.username);
      password = decodeURIComponent(url.password);
    } catch {
      return { ok: false, message: "the proxy URL's user or password is not valid percent-encoding" };
    }
    authorization = `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`)))}`;
  }
  return { ok: true, proxy: { origin: url.origin, authorization } };
}

/**
 * Reads a no-proxy list (entries separated by commas or white space, or a YAML list): `*`, host
 * names (`example.com`, `.example.com`, `*.example.com`: the name and every name under it), IP
 * addresses and CIDR blocks, each with an optional `:port` (IPv6 in brackets when a port follows).
 */
export function parseNoProxy(value: string | readonly string[]): { ok: true; rules: NoProxyRule[] } | { ok: false; message: string } {
  const entries = (typeof value === "string" ? value.split(/[\s,]+/) : value.flatMap((v) => String(v).split(/[\s,]+/))).filter(Boolean);
  const rules: NoProxyRule[] = [];
  for (const entry of entries) {
    const rule = noProxyRule(entry.toLowerCase());
    if (!rule) {
      return {
        ok: false,
        message: `no-proxy entry ${
          JSON.stringify(entry)
        } is not a host name, IP address or CIDR block with an optional :port (such as internal.example, .example.com, 10.0.0.0/8, [::1]:8080)`,
      };
    }
    rules.push(rule);
  }
  return { ok: true, rules };
}

function noProxyRule(entry: string): NoProxyRule | undefined {
  if (entry === "*") return { kind: "all" };
  let host = entry;
  let port: number | undefined;
  // `[v6]`, `[v6]:port`, `host:port`, `a.b.c.d/n:port`; a bare IPv6 address has several colons and no port.
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  const withPort = /^([^:]+):(\d+)$/.exec(entry);
  if (bracketed) [host, port] = [bracketed[1]!, bracketed[2] === undefined ? undefined : Number(bracketed[2])];
  else if (withPort) [host, port] = [withPort[1]!, Number(withPort[2])];
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  const slash = host.indexOf("/");
  const address = slash < 0 ? host : host.slice(0, slash);
  const family = isIP(address);
  if (family) {
    const bits = family === 4 ? 32 : 128;
    const prefix = slash < 0 ? bits : /^\d{1,3}$/.test(host.slice(slash + 1)) ? Number(host.slice(slash + 1)) : NaN;
    if (!(prefix >= 0 && prefix <= bits)) return undefined;
    return { kind: "cidr", address, prefix, family: family === 4 ? "ipv4" : "ipv6", ...(port === undefined ? {} : { port }) };
  }
  const name = host.replace(/^\*?\./, "");
  if (!/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/.test(name)) return undefined;
  return { kind: "domain", name: name.replace(/\.$/, ""), ...(port === undefined ? {} : { port }) };
}
