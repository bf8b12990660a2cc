import type { ApiSpec } from "../../config/snapshot/build.ts";
import { type CompiledOperation, compileOperation, matchTemplate } from "./template.ts";

/** An API as the router holds it: canonical prefix, compiled operations, and whatever the pipeline attaches. */
export interface RoutedApi<T> {
  readonly name: string;
  /** Canonical prefix: no trailing slash, "" for the root API. */
  readonly prefix: string;
  readonly operations: readonly CompiledOperation[] | undefined;
  readonly target: T;
}

/** A successful route: the API, the operation (when the API lists operations) and its template parameters. */
export interface RouteMatch<T> {
  readonly api: RoutedApi<T>;
  readonly operation: CompiledOperation | undefined;
  readonly params: Readonly<Record<string, string>> | undefined;
  /** The path after the API prefix, exactly as received: "" or starting with "/". */
  readonly rest: string;
}

/** Why no route matched: no API or operation for the path, or the path exists for other methods only. */
export type RouteMiss = { readonly miss: "no-route" } | { readonly miss: "method-not-allowed"; readonly allow: readonly string[] };

const NO_ROUTE: RouteMiss = Object.freeze({ miss: "no-route" });

type PrefixTable<T> = Map<string, RoutedApi<T>>;

/**
 * The route table of one pipeline: host (exact, `*.suffix`, or any), then the longest path prefix
 * on a segment boundary, then method and URL template. Built once per configuration, never mutated.
 */
export class Router<T> {
  readonly #exactHosts = new Map<string, PrefixTable<T>>();
  readonly #wildcardHosts: Array<[suffix: string, table: PrefixTable<T>]> = [];
  readonly #anyHost: PrefixTable<T> = new Map();
  /** True when some API is bound to host names: only then is the request's host name worked out. */
  readonly #hostBound: boolean;

  constructor(apis: readonly ApiSpec[], attach: (api: ApiSpec) => T) {
    for (const api of apis) {
      const routed: RoutedApi<T> = Object.freeze({
        name: api.name,
        prefix: api.prefix,
        operations: api.operations?.map(compileOperation).sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0)),
        target: attach(api),
      });
      for (const host of api.hosts ?? []) this.#tableFor(host).set(routed.prefix, routed);
      if (!api.hosts) this.#anyHost.set(routed.prefix, routed);
    }
    // The most specific wildcard first: *.api.example.com before *.example.com.
    this.#wildcardHosts.sort((a, b) => b[0].length - a[0].length);
    this.#hostBound = this.#exactHosts.size > 0 || this.#wildcardHosts.length > 0;
  }

  #tableFor(host: string): PrefixTable<T> {
    if (host.startsWith("*.")) {
      const suffix = host.slice(1);
      let entry = this.#wildcardHosts.find(([s]) => s === suffix);
      if (!entry) this.#wildcardHosts.push(entry = [suffix, new Map()]);
      return entry[1];
    }
    let table = this.#exactHosts.get(host);
    if (!table) this.#exactHosts.set(host, table = new Map());
    return table;
  }

  /** Finds the route for a request; `host` is the Host header as sent (any case, with or without port). */
  match(host: string | null, method: string, path: string): RouteMatch<T> | RouteMiss {
    // Without host-bound APIs every request is routed by its path alone (no lower-cased copy of its host).
    const api = this.#hostBound ? this.#findApi(host === null ? "" : hostName(host), path) : longestPrefix(this.#anyHost, path);
    if (!api) return NO_ROUTE;
    const rest = path.slice(api.prefix.length);
    if (!api.operations) return { api, operation: undefined, params: undefined, rest };
    let allow: string[] | undefined;
    let fallback: RouteMatch<T> | undefined;
    for (const op of api.operations) {
      // The most specific template wins; among equally specific ones, the operation naming the
      // method beats `*`, and an explicit HEAD beats GET serving HEAD.
      if (fallback && op.rank !== fallback.operation!.rank) break;
      const params = matchTemplate(op, rest);
      if (!params) continue;
      if (op.method === method) return { api, operation: op, params, rest };
      if (op.method === "*" || (method === "HEAD" && op.method === "GET")) fallback ??= { api, operation: op, params, rest };
      else (allow ??= []).push(op.method);
    }
    if (fallback) return fallback;
    return allow ? { miss: "method-not-allowed", allow: [...new Set(allow)] } : NO_ROUTE;
  }

  /**
   * The host decides first: the APIs bound to the exact host name, then to the most specific
   * matching wildcard, then the APIs for any host; the first of these with a prefix that fits the
   * path wins, so an API for any host never takes a path from a host that has its own API for it.
   */
  #findApi(host: string, path: string): RoutedApi<T> | undefined {
    const exact = this.#exactHosts.get(host);
    const found = exact && longestPrefix(exact, path);
    if (found) return found;
    for (const [suffix, table] of this.#wildcardHosts) {
      if (!host.endsWith(suffix) || host.length === suffix.length) continue;
      const candidate = longestPrefix(table, path);
      if (candidate) return candidate;
    }
    return longestPrefix(this.#anyHost, path);
  }
}

/** The host name of a Host header value: lower-cased, port removed, IPv6 brackets kept. */
export function hostName(header: string): string {
  const end = header.startsWith("[") ? header.indexOf("]") + 1 : header.lastIndexOf(":");
  const name = end > 0 ? header.slice(0, end) : header;
  return name.toLowerCase();
}

function longestPrefix<T>(table: PrefixTable<T>, path: string): RoutedApi<T> | undefined {
  if (table.size === 0) return undefined;
  let end = path.length;
  for (;;) {
    const api = table.get(end === path.length ? path : path.slice(0, end));
    if (api) return api;
    if (end <= 0) return undefined;
    end = path.lastIndexOf("/", end - 1);
    if (end < 0) return undefined;
  }
}
