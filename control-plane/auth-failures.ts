import type { EventLog } from "./service.ts";

/** Which credential a refused request carried (or lacked). */
export type Credential = "gateway token" | "admin token";

/**
 * One refused authentication, as the control plane logs it. Never the token or any part of it:
 * only where the request came from, what it asked for, and why it was refused.
 */
export interface AuthFailure {
  /** The client's address, as the listener saw it (a proxy's `X-Forwarded-For` is not trusted). */
  readonly source: string;
  readonly credential: Credential;
  /**
   * Why, for the operator: the refusal's cause, which may say more than the 401 did ("unknown
   * gateway" where the client was told "bad signature"). The log is the operator's, not the client's.
   */
  readonly reason: string;
  /** The gateway named in the URL, for gateway tokens. */
  readonly gateway?: string;
  readonly method: string;
  readonly path: string;
}

/** At most one line per source in this long (the first failure, then a count of the others). */
const AUTH_FAILURE_LOG_INTERVAL_MS = 60_000;

/** Sources followed at once; failures from further sources are counted together, under OTHER_SOURCES. */
const AUTH_FAILURE_LOG_SOURCES = 1024;

/** The `source` of the count of failures from sources past AUTH_FAILURE_LOG_SOURCES. */
export const OTHER_SOURCES = "(other sources)";

/** Longest URL path or gateway name written: they come from the client. */
const MAX_PATH = 200;
const MAX_NAME = 64;

interface Window {
  /** When this source's last line was written: its window runs from here for one interval. */
  since: number;
  /** Failures in the window that were counted, not written, by reason. */
  readonly reasons: Map<string, number>;
  suppressed: number;
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * Logs refused authentications on the control plane, rate-limited per source so a client that
 * keeps failing (a gateway with an expired token, a scanner) cannot flood the log: the first
 * failure from a source is written at once as `control plane authentication failed` (source,
 * credential, reason, gateway, method, path), the ones after it within the interval are only
 * counted, and when the interval is over a count of them is written as `control plane
 * authentication failures repeated` (source, `repeated`, `seconds`, `reasons`), which starts the
 * next interval. So a source never gets more than one line per interval, and no failure goes
 * uncounted. Memory is bounded: AUTH_FAILURE_LOG_SOURCES sources, then one shared count.
 */
export class AuthFailureLog {
  readonly #windows = new Map<string, Window>();
  readonly #intervalMs: number;
  readonly #maxSources: number;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly log: Pick<EventLog, "warn">,
    options: { intervalMs?: number; maxSources?: number; now?: () => number } = {},
  ) {
    this.#intervalMs = options.intervalMs ?? AUTH_FAILURE_LOG_INTERVAL_MS;
    this.#maxSources = options.maxSources ?? AUTH_FAILURE_LOG_SOURCES;
    this.#now = options.now ?? Date.now;
  }

  /** Notes a refused authentication: written now, or counted for the source's next line. */
  record(failure: AuthFailure): void {
    const now = this.#now();
    let source = failure.source;
    let window = this.#windows.get(source);
    if (window && now - window.since >= this.#intervalMs) {
      if (window.suppressed > 0) this.#repeated(source, window, now);
      else {
        this.#windows.delete(source);
        window = undefined;
      }
    }
    if (!window && this.#windows.size >= this.#maxSources) {
      this.flush();
      if (this.#windows.size >= this.#maxSources) {
        source = OTHER_SOURCES;
        window = this.#windows.get(source);
      }
    }
    if (window) {
      window.suppressed += 1;
      window.reasons.set(failure.reason, (window.reasons.get(failure.reason) ?? 0) + 1);
    } else {
      this.#windows.set(source, { since: now, reasons: new Map(), suppressed: 0 });
      this.log.warn("control plane authentication failed", {
        source: failure.source,
        credential: failure.credential,
        reason: failure.reason,
        gateway: failure.gateway === undefined ? undefined : cut(failure.gateway, MAX_NAME),
        method: failure.method,
        path: cut(failure.path, MAX_PATH),
      });
    }
    this.#schedule();
  }

  /** Writes the counts of the windows that are over, and forgets sources that stayed quiet through theirs. */
  flush(): void {
    const now = this.#now();
    for (const [source, window] of this.#windows) {
      if (now - window.since < this.#intervalMs) continue;
      if (window.suppressed > 0) this.#repeated(source, window, now);
      else this.#windows.delete(source);
    }
    if (this.#windows.size === 0) this.close();
  }

  /** How many sources are followed now (for tests of the bound). */
  get sources(): number {
    return this.#windows.size;
  }

  /** Stops the timer that writes the counts (pending counts are dropped). */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #repeated(source: string, window: Window, now: number): void {
    this.log.warn("control plane authentication failures repeated", {
      source,
      repeated: window.suppressed,
      seconds: Math.round((now - window.since) / 1000),
      reasons: Object.fromEntries(window.reasons),
    });
    window.since = now;
    window.suppressed = 0;
    window.reasons.clear();
  }

  #schedule(): void {
    if (this.#timer || this.#windows.size === 0) return;
    this.#timer = setInterval(() => this.flush(), this.#intervalMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }
}
