import type { BackendSpec, HealthCheckSpec, PassiveSpec } from "../../config/snapshot/build.ts";
import type { UpstreamClient } from "../upstream/client.ts";

/**
 * Asks one member's health path: resolves with the status it answered, or rejects when it could not
 * be reached or sent no headers within the check's timeout.
 */
export type HealthProbe = (url: string, backend: BackendSpec, check: HealthCheckSpec) => Promise<number>;

/** A probe through the gateway's upstream client: GET with no body, the backend's TLS options, the check's timeout; the body is discarded. */
export function upstreamProbe(upstream: UpstreamClient): HealthProbe {
  return async (url, backend, check) => {
    const headers = new Headers({ "user-agent": "portico-health-check" });
    const response = await upstream.send({
      url,
      method: "GET",
      headers,
      clientBody: undefined,
      timeoutMs: check.timeoutMs,
      tls: backend.tls,
      http2: backend.http2,
    });
    await response.body?.cancel().catch(() => {});
    return response.status;
  };
}

/** Timers must not keep a process alive (node and Bun: `unref`; Deno: `Deno.unrefTimer`). */
function unref(timer: ReturnType<typeof setTimeout>): void {
  if (typeof timer === "object" && timer !== null && "unref" in timer) (timer as { unref(): void }).unref();
  else (globalThis as { Deno?: { unrefTimer(id: number): void } }).Deno?.unrefTimer(timer as unknown as number);
}

/**
 * The health of one member of one backend's pool, in this gateway process: whether its active
 * checks pass (`checkedUp`), whether passive ejection took it out (`ejected`), and `up`, which is
 * what the balancer reads: both fine. Kept by backend name and member URL across configuration
 * swaps (BackendHealth), so a swap neither resets a member's health nor restarts its checks.
 */
export class MemberHealth {
  /** Whether the balancer may send to it: its checks pass (or it has none) and it is not ejected. */
  up = true;
  /** Whether its active checks pass (true without checks). */
  checkedUp = true;
  /** Whether passive ejection has taken it out for now. */
  ejected = false;
  /** Times passive ejection has taken it out, since the member was first configured. */
  ejections = 0;
  /** What its last active check saw: a status, or why it failed; undefined before the first. */
  lastCheck: string | undefined;

  #callFailures = 0;
  #passes = 0;
  #fails = 0;
  #ejectionTimer: ReturnType<typeof setTimeout> | undefined;
  #checkTimer: ReturnType<typeof setInterval> | undefined;
  #checkInterval = 0;
  #checking = false;
  /** The backend as last configured: its checks and TLS options are read from it at each check. */
  #backend: BackendSpec | undefined;

  constructor(
    /** The backend's name. */
    readonly backend: string,
    /** The member's URL as configured. */
    readonly url: string,
  ) {}

  /**
   * The outcome of one call through the gateway: `status`, or undefined when the member could not
   * be reached or sent no headers in time. Connection failures and 5xx count towards ejection; any
   * other answer resets the count.
   */
  called(status: number | undefined, passive: PassiveSpec): void {
    if (status !== undefined && status < 500) {
      if (this.#callFailures !== 0) this.#callFailures = 0;
      return;
    }
    this.#callFailures += 1;
    if (this.#callFailures >= passive.consecutiveFailures && !this.ejected) this.#eject(passive.ejectionMs);
  }

  #eject(ms: number): void {
    this.ejected = true;
    this.ejections += 1;
    this.#callFailures = 0;
    this.#update();
    this.#ejectionTimer = setTimeout(() => this.readmit(), ms);
    unref(this.#ejectionTimer);
  }

  /** Ends an ejection (its time is up, an active check passed, or passive ejection was turned off). */
  readmit(): void {
    if (this.#ejectionTimer !== undefined) clearTimeout(this.#ejectionTimer);
    this.#ejectionTimer = undefined;
    this.#callFailures = 0;
    if (!this.ejected) return;
    this.ejected = false;
    this.#update();
  }

  /** The result of one active check against the backend's thresholds; a passed check also ends an ejection. */
  checked(passed: boolean, check: HealthCheckSpec, seen: string): void {
    this.lastCheck = seen;
    if (passed) {
      this.#fails = 0;
      this.#passes += 1;
      if (!this.checkedUp && this.#passes >= check.healthyThreshold) this.checkedUp = true;
      if (this.ejected) this.readmit();
    } else {
      this.#passes = 0;
      this.#fails += 1;
      if (this.checkedUp && this.#fails >= check.unhealthyThreshold) this.checkedUp = false;
    }
    this.#update();
  }

  #update(): void {
    this.up = this.checkedUp && !this.ejected;
  }

  /**
   * Applies the backend's configuration: starts, restarts (new interval) or stops the active checks
   * (without a probe nothing runs yet), and ends an ejection when passive ejection is now off.
   */
  configure(backend: BackendSpec, probe: HealthProbe | undefined): void {
    this.#backend = backend;
    if (!backend.passive) this.readmit();
    const check = backend.health;
    if (!check || !probe) {
      this.#stopChecks();
      if (!check) {
        this.checkedUp = true;
        this.#passes = this.#fails = 0;
        this.lastCheck = undefined;
        this.#update();
      }
      return;
    }
    if (this.#checkTimer !== undefined && this.#checkInterval === check.intervalMs) return;
    this.#stopChecks();
    this.#checkInterval = check.intervalMs;
    this.#checkTimer = setInterval(() => void this.#check(probe), check.intervalMs);
    unref(this.#checkTimer);
    void this.#check(probe);
  }

  async #check(probe: HealthProbe): Promise<void> {
    const backend = this.#backend;
    const check = backend?.health;
    // One check at a time: a member slower than the interval is not asked twice at once.
    if (!backend || !check || this.#checking) return;
    this.#checking = true;
    try {
      const status = await probe(new URL(this.url).origin + check.path, backend, check);
      // The configuration may have changed (or the checks stopped) while the probe was out.
      if (this.#checkTimer === undefined || this.#backend?.health !== check) return;
      this.checked(check.expectedStatus.some(([low, high]) => status >= low && status <= high), check, String(status));
    } catch (error) {
      if (this.#checkTimer === undefined || this.#backend?.health !== check) return;
      this.checked(false, check, error instanceof Error && error.name === "UpstreamTimeout" ? "timeout" : "unreachable");
    } finally {
      this.#checking = false;
    }
  }

  #stopChecks(): void {
    if (this.#checkTimer !== undefined) clearInterval(this.#checkTimer);
    this.#checkTimer = undefined;
  }

  /** Stops every timer (the member left the configuration, or the gateway stops). */
  stop(): void {
    this.#stopChecks();
    if (this.#ejectionTimer !== undefined) clearTimeout(this.#ejectionTimer);
    this.#ejectionTimer = undefined;
  }
}

/**
 * The health of every backend member of a gateway process, by backend name and member URL, kept
 * across configuration swaps like the concurrency gates (BackendGates). Pools being compiled take
 * their members' health from here; once a configuration is live, `apply` (re)configures the checks
 * and forgets members that left it. Active checks run only once `start` has given a probe.
 */
export class BackendHealth {
  readonly #members = new Map<string, MemberHealth>();
  #probe: HealthProbe | undefined;
  #closed = false;
  /** The backends of the live configuration, for `start`. */
  #configured: ReadonlyMap<string, BackendSpec> = new Map();

  /** The health of one member (made on first use, healthy). */
  member(backend: string, url: string): MemberHealth {
    const key = `${backend} ${url}`;
    let member = this.#members.get(key);
    if (!member) this.#members.set(key, member = new MemberHealth(backend, url));
    return member;
  }

  /** After a configuration went live: configures each of its members' checks, and stops and forgets the members it no longer has. */
  apply(backends: ReadonlyMap<string, BackendSpec>): void {
    const live = new Set<string>();
    for (const [name, backend] of backends) {
      for (const url of backend.urls) {
        const key = `${name} ${url}`;
        if (live.has(key)) continue;
        live.add(key);
        this.member(name, url).configure(backend, this.#closed ? undefined : this.#probe);
      }
    }
    for (const [key, member] of this.#members) {
      if (live.has(key)) continue;
      member.stop();
      this.#members.delete(key);
    }
    this.#configured = backends;
  }

  /** Starts the active checks of the live configuration (and of those that follow) with `probe`. */
  start(probe: HealthProbe): void {
    this.#probe = probe;
    this.apply(this.#configured);
  }

  /** Stops every check and ejection timer (the gateway stops); later configurations run no checks. */
  close(): void {
    this.#closed = true;
    for (const member of this.#members.values()) member.stop();
  }

  /** Every member's health, for metrics and `/readyz`. */
  all(): IterableIterator<MemberHealth> {
    return this.#members.values();
  }
}
