// Counting shared by rate-limit, rate-limit-by-key and quota-by-key: one counter per key and
// window, the APIM response headers and variables, and the refusal.
import { Config, Context, Counter, Reply, Response, Template, problem } from "@portico/sdk";

/** The parameters the three policies share, read once from the configuration. */
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

// rate-limit-by-key and quota-by-key: one Limit counted per rendered `counter-key`, both read on the first call.
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
