/**
 * The value cache built-ins (APIM's cache-lookup-value, cache-store-value, cache-remove-value):
 * text values under keys the configuration gives as templates (`{request.header.NAME}`,
 * `{context.variable.NAME}`, ...; rendered on the host like validate-jwt's `token-value`), kept in
 * the store `caching-type` names, under their own key prefix so that they never meet response
 * entries. They run in any section. A store that fails (an external one down or slow) is passed
 * over, logged at most once a minute: a lookup then finds nothing (the default value), a store or
 * a removal does not happen; the request goes on either way.
 */
import type { PolicyExchange } from "../policy/abi.ts";
import type { ChainStep, FailureMode } from "../policy/chain.ts";
import type { HostPolicyContext } from "../policy/host.ts";
import { compileTemplate } from "../policy/jwt/token.ts";
import type { KV } from "../state/kv.ts";
import { FailureLog } from "./failure-log.ts";
import { defaultCacheStores, pickStore } from "./stores.ts";

/** Prefix of cached values in a store (responses use RESPONSE_KEY_PREFIX, key.ts). */
export const VALUE_KEY_PREFIX = "portico:val:";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the three value policies share: the store, the key template, the failure log; they run in every section. */
abstract class ValueStep implements ChainStep {
  readonly body = undefined;
  protected readonly kv: KV;
  protected readonly failures: FailureLog;
  readonly #key: (exchange: PolicyExchange) => string;

  constructor(
    readonly name: string,
    readonly failure: FailureMode,
    config: Readonly<Record<string, string>>,
    context: HostPolicyContext,
  ) {
    this.kv = pickStore(context.cache ?? defaultCacheStores(), config["caching-type"], name);
    this.#key = compileTemplate(config.key ?? "");
    this.failures = new FailureLog(context, name);
  }

  /** The store key of a rendered key. */
  protected key(exchange: PolicyExchange): string {
    return VALUE_KEY_PREFIX + this.#key(exchange);
  }

  has(hook: string): boolean {
    return hook === "on_request" || hook === "on_response" || hook === "on_error";
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  abstract call(hook: string, exchange: PolicyExchange): Promise<void>;
}

/** cache-lookup-value: the value under `key` into `variable-name`, else `default-value` (the variable is left unset without one). */
export class CacheLookupValueStep extends ValueStep {
  readonly #variable: string;
  readonly #fallback: string | undefined;

  constructor(name: string, failure: FailureMode, config: Readonly<Record<string, string>>, context: HostPolicyContext) {
    super(name, failure, config, context);
    this.#variable = config["variable-name"] ?? "";
    this.#fallback = config["default-value"];
  }

  async call(_hook: string, exchange: PolicyExchange): Promise<void> {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await this.kv.get(this.key(exchange));
    } catch (error) {
      this.failures.failed(this.kv, "get", error);
    }
    const value = bytes === undefined ? this.#fallback : decoder.decode(bytes);
    if (value !== undefined) (exchange.variables ??= new Map()).set(this.#variable, value);
    // APIM assigns null on a miss without a default: an earlier value of the variable does not survive.
    else exchange.variables?.delete(this.#variable);
  }
}

/** cache-store-value: the rendered `value` under `key` for `duration` seconds; a value over cache.entry.max-bytes fails the policy. */
export class CacheStoreValueStep extends ValueStep {
  readonly #value: (exchange: PolicyExchange) => string;
  readonly #ttlMs: number;
  readonly #maxBytes: number;

  constructor(name: string, failure: FailureMode, config: Readonly<Record<string, string>>, context: HostPolicyContext) {
    super(name, failure, config, context);
    this.#value = compileTemplate(config.value ?? "");
    this.#ttlMs = Number(config.duration) * 1000;
    this.#maxBytes = (context.cache ?? defaultCacheStores()).maxEntryBytes;
  }

  async call(_hook: string, exchange: PolicyExchange): Promise<void> {
    const value = encoder.encode(this.#value(exchange));
    if (value.byteLength > this.#maxBytes) {
      throw new Error(`the value is ${value.byteLength} bytes; cache.entry.max-bytes allows ${this.#maxBytes}`);
    }
    try {
      await this.kv.set(this.key(exchange), value, this.#ttlMs);
    } catch (error) {
      this.failures.failed(this.kv, "set", error);
    }
  }
}

/** cache-remove-value: removes the value under `key`. */
export class CacheRemoveValueStep extends ValueStep {
  async call(_hook: string, exchange: PolicyExchange): Promise<void> {
    try {
      await this.kv.delete(this.key(exchange));
    } catch (error) {
      this.failures.failed(this.kv, "delete", error);
    }
  }
}
