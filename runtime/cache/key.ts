/**
 * The key a request's response is cached under (cache-lookup makes it, cache-store uses it): the
 * API, the method and the routed path; the query string (all of it, or only the
 * `vary-by-query-parameter` names when some are given); the values of the `vary-by-header` headers
 * and always of `Accept-Encoding` (so a compressed body never reaches a client that did not ask for
 * one); the subscription with `vary-by-developer`, the product with `vary-by-developer-groups`. The
 * parts are hashed (sha256), so header values such as tokens never appear in a store's keys.
 */
import { createHash } from "node:crypto";
import type { PolicyExchange } from "../policy/abi.ts";

/** Prefix of response entries in a store; values of cache-store-value use another (runtime/cache/values.ts). */
export const RESPONSE_KEY_PREFIX = "portico:rsp:";

/** What a cache-lookup varies its key by. */
export interface KeyRules {
  readonly headers: readonly string[];
  /** Query parameter names; undefined: the whole query string. */
  readonly query: readonly string[] | undefined;
  readonly byDeveloper: boolean;
  readonly byGroups: boolean;
}

/** The cache key of an exchange's response under `rules` (see the file's comment). */
export function responseKey(ex: PolicyExchange, rules: KeyRules): string {
  const search = ex.search ?? "";
  let query: string;
  if (rules.query === undefined) query = search;
  else {
    const params = new URLSearchParams(search);
    query = JSON.stringify(rules.query.map((name) => params.getAll(name)));
  }
  const headers = rules.headers.map((name) => ex.requestHeaders.get(name));
  const parts = [
    ex.api ?? "",
    ex.method,
    ex.path,
    query,
    headers,
    ex.requestHeaders.get("accept-encoding"),
    rules.byDeveloper ? (ex.subscription?.id ?? null) : 0,
    rules.byGroups ? (ex.product ?? null) : 0,
  ];
  return RESPONSE_KEY_PREFIX + createHash("sha256").update(JSON.stringify(parts)).digest("base64url");
}
