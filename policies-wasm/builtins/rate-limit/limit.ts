// Counting shared by rate-limit, rate-limit-by-key, quota and quota-by-key: one counter per key and
// window, the APIM response headers and variables, and the refusal; bandwidth for the quotas.
import { Config, Context, Counter, Reply, Request, Response, Subscription, Template, problem } from "@portico/sdk";

/**
 * Who a rate-limit or quota counts for: the request's subscription, or its API when the call has
 * none (anonymous callers of one API share one counter).
 */
export function caller(): string {
  const subscription = Subscription.id();
  return subscription !== null ? "sub:" + subscription! : "api:" + Request.api();
}

/** The parameters the rate limits share, read once from the configuration. */
export class Limit {
  calls: i64 = 0;
  periodMs: i64 = 0;
  increment: i64 = 1;
  retryAfterHeader: string = "Retry-After";
  retryAfterVariable: string | null = null;
  remainingHeader: string | null = null;
  remainingVariable: string | null = null;
  totalHeader: string | null = null;

  constructor() {
    const calls = Config.get("calls");
    const period = Config.get("renewal-period");
    if (calls === null || period === null) unreachable();
    this.calls = I64.parseInt(calls!);
    this.periodMs = I64.parseInt(period!) * 1000;
    const increment = Config.get("increment-count");
    if (increment !== null) this.increment = I64.parseInt(increment!);
    const retry = Config.get("retry-after-header-name");
    if (retry !== null) this.retryAfterHeader = retry!;
    this.retryAfterVariable = Config.get("retry-after-variable-name");
    this.remainingHeader = Config.get("remaining-calls-header-name");
    this.remainingVariable = Config.get("remaining-calls-variable-name");
    this.totalHeader = Config.get("total-calls-header-name");
  }

  /**
   * Counts this request under `key`. Returns true when it may go on; otherwise the client has been
   * answered with `status` (429 or 403), a Retry-After header and a problem+json body.
   */
  count(key: string, status: i32, quota: bool): bool {
    // The limit and window are part of the key: uses with other limits keep their own counters.
    const count = Counter.add(this.calls.toString() + "/" + this.periodMs.toString() + ":" + key, this.periodMs, this.increment, this.calls);
    if (count >= 0) {
      const remaining = (this.calls - count).toString();
      if (this.remainingVariable !== null) Context.set(this.remainingVariable!, remaining);
      if (this.remainingHeader !== null) Response.setHeader(this.remainingHeader!, remaining);
      if (this.totalHeader !== null) Response.setHeader(this.totalHeader!, this.calls.toString());
      return true;
    }
    const ms = Counter.resetMs();
    let seconds = (ms + 999) / 1000;
    if (seconds < 1) seconds = 1;
    const retry = seconds.toString();
    if (this.retryAfterVariable !== null) Context.set(this.retryAfterVariable!, retry);
    if (this.remainingVariable !== null) Context.set(this.remainingVariable!, "0");
    Reply.header(this.retryAfterHeader, retry);
    if (this.remainingHeader !== null) Reply.header(this.remainingHeader!, "0");
    if (this.totalHeader !== null) Reply.header(this.totalHeader!, this.calls.toString());
    if (quota) {
      problem(status, "quota-exceeded", "Quota exceeded", "Out of call volume quota. Quota will be replenished in " + clock(seconds) + ".");
    } else {
      problem(status, "rate-limited", "Rate limit exceeded", "Rate limit is exceeded. Try again in " + retry + " seconds.");
    }
    return false;
  }
}

function two(n: i64): string {
  return n < 10 ? "0" + n.toString() : n.toString();
}

/** Seconds as hh:mm:ss (hours may exceed 24). */
function clock(seconds: i64): string {
  return two(seconds / 3600) + ":" + two((seconds / 60) % 60) + ":" + two(seconds % 60);
}

// rate-limit-by-key: one Limit counted per rendered `counter-key`, both read on the first call.
let keyed: Limit | null = null;
let counterKey: Template | null = null;

/** Counts this request under `prefix` + the rendered counter-key; refuses with `status` past the limit. */
export function countByKey(prefix: string, status: i32, quota: bool): void {
  if (keyed === null) {
    const source = Config.get("counter-key");
    if (source === null) unreachable();
    counterKey = new Template(source!);
    keyed = new Limit();
  }
  keyed!.count(prefix + counterKey!.render(), status, quota);
}

/**
 * APIM's quota and quota-by-key: `calls` (counted by `increment-count`) and `bandwidth` (KiB of
 * request and response bodies, counted by the host as they stream) per `renewal-period`, either or
 * both. A call is refused with 403 once the calls are used up, or once the bytes counted reach the
 * bandwidth: the call that crosses it completes (its size is not known until it ends), later ones
 * are refused until the period renews.
 */
export class Quota {
  /** Calls per period, or -1 for no call quota. */
  calls: i64 = -1;
  /** Bytes per period, or -1 for no bandwidth quota. */
  bytes: i64 = -1;
  periodMs: i64 = 0;
  increment: i64 = 1;

  constructor() {
    const calls = Config.get("calls");
    const bandwidth = Config.get("bandwidth");
    const period = Config.get("renewal-period");
    if (period === null || (calls === null && bandwidth === null)) unreachable();
    if (calls !== null) this.calls = I64.parseInt(calls!);
    if (bandwidth !== null) this.bytes = I64.parseInt(bandwidth!) * 1024;
    this.periodMs = I64.parseInt(period!) * 1000;
    const increment = Config.get("increment-count");
    if (increment !== null) this.increment = I64.parseInt(increment!);
  }

  /** Counts this request under `key`; false when it was refused (the client has its 403). */
  count(key: string): bool {
    const period = this.periodMs.toString();
    // The limits and the window are part of the keys: uses with other limits keep their own counters.
    const bytesKey = "bytes/" + this.bytes.toString() + "/" + period + ":" + key;
    // Adding nothing reads the total (and starts the window on a first call): refused once it has
    // reached the limit, i.e. when 0 more would pass limit - 1.
    if (this.bytes >= 0 && Counter.add(bytesKey, this.periodMs, 0, this.bytes - 1) < 0) {
      refuse("Out of bandwidth quota.");
      return false;
    }
    if (this.calls >= 0 && Counter.add(this.calls.toString() + "/" + period + ":" + key, this.periodMs, this.increment, this.calls) < 0) {
      refuse("Out of call volume quota.");
      return false;
    }
    if (this.bytes >= 0) Counter.addBodyBytes(bytesKey, this.periodMs);
    return true;
  }
}

/** 403 with Retry-After (the window of the refused counter) and APIM's wording. */
function refuse(what: string): void {
  let seconds = (Counter.resetMs() + 999) / 1000;
  if (seconds < 1) seconds = 1;
  Reply.header("Retry-After", seconds.toString());
  problem(403, "quota-exceeded", "Quota exceeded", what + " Quota will be replenished in " + clock(seconds) + ".");
}

// quota-by-key: one Quota per rendered `counter-key`, both read on the first call.
let quota: Quota | null = null;
let quotaKey: Template | null = null;

/** Counts this request for quota-by-key under `prefix` + the rendered counter-key. */
export function quotaByKey(prefix: string): void {
  if (quota === null) {
    const source = Config.get("counter-key");
    if (source === null) unreachable();
    quotaKey = new Template(source!);
    quota = new Quota();
  }
  quota!.count(prefix + quotaKey!.render());
}
