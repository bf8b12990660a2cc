/**
 * The egress proxy decision: which forward proxy, if any, each of the gateway's outbound HTTP calls
 * (backends, control plane, validate-jwt key fetches, OTLP exports) goes through. Made once at
 * start from the `net.client.proxy.*` settings, which win key by key over the standard variables
 * (`http_proxy` before `HTTP_PROXY`, `https_proxy` before `HTTPS_PROXY`, `no_proxy` before
 * `NO_PROXY`), and handed to the upstream client and the gateway's own fetch. Without a proxy
 * there is no decision object at all, so a gateway without one does no per-request work for it.
 * See docs/egress-proxy.md.
 */
import { BlockList, isIP } from "node:net";
import { type NoProxyRule, parseNoProxy, parseProxyUrl, type ProxyEndpoint, type Settings } from "../../config/schema/settings.ts";

export type { ProxyEndpoint } from "../../config/schema/settings.ts";

/** Where the gateway's outbound calls go: through a proxy per scheme, except the hosts the no-proxy list names. */
export interface EgressProxy {
  /** The proxy for `http://` targets (absolute-form requests); undefined: those go direct. */
  readonly http: ProxyEndpoint | undefined;
  /** The proxy for `https://` targets (CONNECT tunnels); undefined: those go direct. */
  readonly https: ProxyEndpoint | undefined;
  /** The proxy for this absolute URL, or undefined when it goes direct (its scheme has none, or the no-proxy list exempts its host). */
  proxyFor(url: string): ProxyEndpoint | undefined;
  /** What the decision is, for the start-up log line: proxy origins only, never credentials. */
  describe(): Record<string, string>;
}

/** The environment the standard variables are read from. */
export type ProxyEnv = Readonly<Record<string, string | undefined>>;

/** The standard variables, lower-case first (the spelling that wins when both are set). */
export const PROXY_VARIABLES = {
  http: ["http_proxy", "HTTP_PROXY"],
  https: ["https_proxy", "HTTPS_PROXY"],
  noProxy: ["no_proxy", "NO_PROXY"],
} as const;

/** The first non-empty variable of `names`, with its name. */
function variable(env: ProxyEnv, names: readonly string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value.trim() !== "") return { name, value };
  }
  return undefined;
}

/**
 * Resolves the egress proxy from the settings and the environment: undefined when neither names a
 * proxy; problems (each with the key or variable at fault) when a variable's value is invalid (the
 * settings' own values were checked when the settings were read).
 */
export function resolveEgressProxy(settings: Settings, env: ProxyEnv): { ok: true; proxy: EgressProxy | undefined } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const endpoint = (key: "net.client.proxy.http" | "net.client.proxy.https", names: readonly string[]) => {
    const set = settings[key];
    if (set) return set;
    const found = variable(env, names);
    if (!found) return undefined;
    const parsed = parseProxyUrl(found.value);
    if (parsed.ok) return parsed.proxy;
    problems.push(`${found.name} (the environment's value for ${key}): ${parsed.message}`);
    return undefined;
  };
  const http = endpoint("net.client.proxy.http", PROXY_VARIABLES.http);
  const https = endpoint("net.client.proxy.https", PROXY_VARIABLES.https);
  let rules = settings["net.client.proxy.no-proxy"];
  if (!rules) {
    const found = variable(env, PROXY_VARIABLES.noProxy);
    const parsed = found && parseNoProxy(found.value);
    if (parsed && !parsed.ok) problems.push(`${found!.name} (the environment's value for net.client.proxy.no-proxy): ${parsed.message}`);
    rules = parsed?.ok ? parsed.rules : [];
  }
  if (problems.length) return { ok: false, problems };
  if (!http && !https) return { ok: true, proxy: undefined };
  return { ok: true, proxy: egressProxy(http, https, rules) };
}

/** Decisions remembered per origin at most: backends, key endpoints and the control plane are few; past this, each call decides anew. */
const MAX_REMEMBERED = 4096;

/** An egress proxy over resolved values (tests build one directly). */
export function egressProxy(http: ProxyEndpoint | undefined, https: ProxyEndpoint | undefined, rules: readonly NoProxyRule[]): EgressProxy {
  const exempt = noProxyMatcher(rules);
  // Per origin (`https://host:port`): the URL is parsed once per backend, not once per request.
  const remembered = new Map<string, ProxyEndpoint | null>();
  const decide = (origin: string): ProxyEndpoint | undefined => {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return undefined;
    }
    const proxy = url.protocol === "https:" ? https : url.protocol === "http:" ? http : undefined;
    if (!proxy) return undefined;
    const port = url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
    return exempt(url.hostname, port) ? undefined : proxy;
  };
  return {
    http,
    https,
    proxyFor(url: string) {
      // The origin is everything before the path: `scheme://authority`.
      const start = url.indexOf("//") + 2;
      const end = url.indexOf("/", start);
      const origin = end < 0 ? url : url.slice(0, end);
      const known = remembered.get(origin);
      if (known !== undefined) return known ?? undefined;
      const decided = decide(origin);
      if (remembered.size < MAX_REMEMBERED) remembered.set(origin, decided ?? null);
      return decided;
    },
    describe() {
      const shown: Record<string, string> = {};
      if (http) shown.http = http.origin;
      if (https) shown.https = https.origin;
      if (rules.length) shown.noProxy = rules.map(showRule).join(",");
      return shown;
    },
  };
}

function showRule(rule: NoProxyRule): string {
  if (rule.kind === "all") return "*";
  const host = rule.kind === "domain" ? rule.name : rule.family === "ipv6" ? `[${rule.address}]/${rule.prefix}` : `${rule.address}/${rule.prefix}`;
  return rule.port === undefined ? host : `${host}:${rule.port}`;
}

/**
 * Whether a no-proxy list exempts a host (`hostname` as a URL gives it: IPv6 in brackets) on a
 * port: `*` exempts all; a name exempts itself and the names under it; an address or block
 * exempts the addresses in it (a host name is never resolved to match one).
 */
export function noProxyMatcher(rules: readonly NoProxyRule[]): (hostname: string, port: number) => boolean {
  if (rules.some((r) => r.kind === "all")) return () => true;
  const domains = rules.filter((r) => r.kind === "domain");
  const blocks = rules.filter((r) => r.kind === "cidr").map((r) => {
    const list = new BlockList();
    list.addSubnet(r.address, r.prefix, r.family);
    return { list, port: r.port };
  });
  return (hostname, port) => {
    const host = hostname.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
    const family = isIP(host);
    if (family) {
      const type = family === 4 ? "ipv4" : "ipv6";
      return blocks.some((b) => (b.port === undefined || b.port === port) && b.list.check(host, type));
    }
    return domains.some((d) => (d.port === undefined || d.port === port) && (host === d.name || host.endsWith(`.${d.name}`)));
  };
}
