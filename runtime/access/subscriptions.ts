/**
 * The subscription key check (APIM's): which subscription a request's key belongs to, whether it
 * may call this API now, and which product's policies run. Keys are never held as text in the
 * snapshot: a presented key is hashed with each salt of the snapshot (HMAC-SHA256) and its digest
 * looked up, so the comparison is a hash lookup, not a character-by-character one. Keys that
 * matched are remembered (a bounded map from the presented text to its subscription) so a
 * repeated key costs a map lookup instead of an HMAC. See docs/consumers.md.
 */
import { createHmac } from "node:crypto";
import type { ApiSpec, ProductSpec, Snapshot, SubscriptionSpec } from "../../config/snapshot/build.ts";
import { HttpProblem } from "../http/problem.ts";

/** The subscription and product a request is made under, as policies and templates see them. */
export interface Caller {
  readonly subscription: { readonly id: string; readonly name: string } | undefined;
  readonly product: string | undefined;
}

/** A call without a key to an API that does not need one, and that is in no open product. */
const ANONYMOUS: Caller = Object.freeze({ subscription: undefined, product: undefined });

/** How many matched keys are remembered; past it the map starts over (a flood of valid keys costs an HMAC each, nothing more). */
const REMEMBERED_KEYS = 10_000;

/** A key that matched: its subscription (undefined when the subscription is not in this snapshot). */
interface Match {
  readonly subscription: SubscriptionSpec | undefined;
}

/**
 * The subscriptions of one configuration and their keys, made once per pipeline. `check` is on
 * the request path of every API: no allocation on a call without a key to an API that needs none.
 */
export class SubscriptionKeys {
  readonly #salts: { readonly salt: Buffer; readonly digests: ReadonlyMap<string, { readonly subscription: string }> }[] = [];
  readonly #subscriptions: ReadonlyMap<string, SubscriptionSpec>;
  readonly #products: ReadonlyMap<string, ProductSpec>;
  readonly #remembered = new Map<string, Match>();
  /** Callers of the open products and of each subscription, made once. */
  readonly #callers = new Map<string, Caller>();

  constructor(snapshot: Snapshot) {
    for (const [salt, digests] of snapshot.subscriptionKeys.bySalt) this.#salts.push({ salt: Buffer.from(salt, "hex"), digests });
    this.#subscriptions = snapshot.subscriptions;
    this.#products = snapshot.products;
  }

  /** Whether the configuration has any key at all (without one, a presented key can only be wrong). */
  get empty(): boolean {
    return this.#salts.length === 0;
  }

  /**
   * The caller of a request to `api`, given the key it presented (undefined: none). Throws the
   * HttpProblem to answer with: 401 for a missing key where one is needed, and for a key that is
   * unknown or not valid for this API; 403 for a subscription that is suspended, cancelled,
   * expired, or whose product is not published.
   */
  check(api: ApiSpec, key: string | undefined, now: number): Caller {
    const access = api.access;
    if (key === undefined) {
      if (access.keyRequired) throw new HttpProblem("subscription-key-missing");
      return access.openProduct === undefined ? ANONYMOUS : this.#caller(`product:${access.openProduct}`, undefined, access.openProduct);
    }
    const subscription = this.#find(key);
    if (!subscription) throw new HttpProblem("subscription-key-invalid");
    const scope = subscription.scope;
    let product: string | undefined;
    if (scope.kind === "api") {
      if (scope.name !== api.name) throw new HttpProblem("subscription-key-invalid");
    } else if (scope.kind === "product") {
      const spec = this.#products.get(scope.name);
      if (!spec?.apis.has(api.name)) throw new HttpProblem("subscription-key-invalid");
      if (!spec.published) throw new HttpProblem("product-not-published");
      product = scope.name;
    }
    if (subscription.state === "suspended") throw new HttpProblem("subscription-suspended");
    if (subscription.state === "cancelled") throw new HttpProblem("subscription-cancelled");
    if (subscription.expiresAt !== undefined && now >= subscription.expiresAt) throw new HttpProblem("subscription-expired");
    return this.#caller(subscription.name, subscription, product);
  }

  /** The subscription a key belongs to, or undefined. */
  #find(key: string): SubscriptionSpec | undefined {
    const remembered = this.#remembered.get(key);
    if (remembered) return remembered.subscription;
    for (const { salt, digests } of this.#salts) {
      const entry = digests.get(createHmac("sha256", salt).update(key).digest("hex"));
      if (entry) {
        const match = { subscription: this.#subscriptions.get(entry.subscription) };
        if (this.#remembered.size >= REMEMBERED_KEYS) this.#remembered.clear();
        this.#remembered.set(key, match);
        return match.subscription;
      }
    }
    return undefined;
  }

  #caller(id: string, subscription: SubscriptionSpec | undefined, product: string | undefined): Caller {
    const cacheKey = `${id}\n${product ?? ""}`;
    let caller = this.#callers.get(cacheKey);
    if (!caller) {
      caller = Object.freeze({ subscription: subscription && Object.freeze({ id: subscription.name, name: subscription.name }), product });
      this.#callers.set(cacheKey, caller);
    }
    return caller;
  }
}

/**
 * The key a request presents for `api`: its header, else its query parameter (APIM's order), and
 * the query string without that parameter (what the backend gets). `search` is "" or starts with "?".
 */
export function presentedKey(api: ApiSpec, headers: Headers, search: string): { key: string | undefined; search: string } {
  const { header, query } = api.access;
  const fromHeader = headers.get(header);
  if (search.length < 2 || !search.includes(query)) return { key: fromHeader ?? undefined, search };
  // Remove every occurrence of the parameter, keeping the rest of the query byte for byte.
  let key: string | undefined;
  const kept: string[] = [];
  for (const part of search.slice(1).split("&")) {
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    if (safeDecode(name) === query) {
      key ??= safeDecode(eq < 0 ? "" : part.slice(eq + 1));
    } else kept.push(part);
  }
  return { key: fromHeader ?? key, search: kept.length ? `?${kept.join("&")}` : "" };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}
