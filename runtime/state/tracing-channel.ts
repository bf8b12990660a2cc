import diagnostics from "node:diagnostics_channel";

/** The five channels of a TracingChannel, as Node documents them. */
interface TracingChannels {
  readonly start: { readonly hasSubscribers: boolean };
  readonly end: { readonly hasSubscribers: boolean };
  readonly asyncStart: { readonly hasSubscribers: boolean };
  readonly asyncEnd: { readonly hasSubscribers: boolean };
  readonly error: { readonly hasSubscribers: boolean };
}

/**
 * Gives `TracingChannel` the `hasSubscribers` getter where the runtime's `node:diagnostics_channel`
 * lacks it (Bun 1.4: undefined; Node 20 and Deno 2.9 have it). The Redis client (node-redis) wraps
 * every command in `tracePromise`, building a context object and a promise chain, unless
 * `hasSubscribers` is exactly `false`; without the getter it does so for every command on Bun,
 * although nobody listens. The getter says what Node's does: true when any of the five channels has
 * a subscriber, so a real subscriber still gets every event. Does nothing where the getter exists.
 */
export function ensureTracingChannelHasSubscribers(): void {
  if (typeof diagnostics.tracingChannel !== "function") return;
  const prototype = Object.getPrototypeOf(diagnostics.tracingChannel("portico:probe")) as object;
  if (prototype === Object.prototype || "hasSubscribers" in prototype) return;
  Object.defineProperty(prototype, "hasSubscribers", {
    configurable: true,
    get(this: TracingChannels): boolean {
      return this.start.hasSubscribers || this.end.hasSubscribers || this.asyncStart.hasSubscribers || this.asyncEnd.hasSubscribers ||
        this.error.hasSubscribers;
    },
  });
}
