/**
 * How the cache policies report a store that fails (an external one down, or slower than its
 * timeout): a `warn` line at most once a minute per policy, so an outage does not flood the log
 * while every request passes the cache over.
 */
import type { HostPolicyContext } from "../policy/host.ts";
import type { KV } from "../state/kv.ts";
import { describeError } from "../../config/schema/problems.ts";

/** A failing store is logged at most this often per policy. */
export const STORE_FAILURE_LOG_MS = 60_000;

/** Logs a store's failure at most once a minute (per owner). */
export class FailureLog {
  #lastAt = -Infinity;

  constructor(private readonly context: HostPolicyContext, private readonly policy: string) {}

  /** Notes a failure of `operation` on `kv`; a log line unless one went out in the last minute. */
  failed(kv: KV, operation: string, error: unknown): void {
    const now = Date.now();
    if (now - this.#lastAt < STORE_FAILURE_LOG_MS) return;
    this.#lastAt = now;
    this.context.logger?.warn("a cache store failed; the cache is passed over meanwhile", {
      policy: this.policy,
      store: kv.kind,
      operation,
      reason: describeError(error),
    });
  }
}
