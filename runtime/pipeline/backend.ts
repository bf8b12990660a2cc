import { type BackendSpec, type BackendTlsMaterial, DEFAULT_CONCURRENCY, type PassiveSpec } from "../../config/snapshot/build.ts";
import { BackendGate } from "./backend-gate.ts";
import { Balancer } from "./balancer.ts";
import { BackendHealth, type MemberHealth } from "./health.ts";
import type { CircuitBreaker } from "./breaker.ts";

/** Where a backend URL points: host and port as written (`10.0.0.5:8080`), and apart, as traces name them. */
export interface BackendOrigin {
  readonly host: string;
  readonly hostname: string;
  readonly port: number;
}

interface Base extends BackendOrigin {
  /** Origin + path without a trailing slash, e.g. `http://127.0.0.1:9000/v2`. */
  readonly prefix: string;
  /** What an empty rest of path becomes: "/" when the URL has no path of its own, else "". */
  readonly emptyRest: string;
  /** The member's health (kept per gateway process by backend name and URL); undefined in a pool without health or passive ejection. */
  readonly health: MemberHealth | undefined;
}

/**
 * A backend ready for requests: parsed base URLs, the choice between them (round robin, or weights,
 * priorities and health through a Balancer: docs/backends.md), and its concurrency gate.
 */
export class BackendPool {
  readonly #bases: readonly Base[];
  /** Chooses the base of a pool with weights, priorities, health checks or passive ejection; undefined for one plain URL. */
  readonly #balancer: Balancer<Base> | undefined;
  readonly #passive: PassiveSpec | undefined;
  /** How long the backend may take to send response headers. */
  readonly timeoutMs: number;
  /** TLS options with their files read (https:// backends with a `tls:` section). */
  readonly tls: BackendTlsMaterial | undefined;
  /** Whether requests go to it over HTTP/2 (`protocol: http2`). */
  readonly http2: boolean;
  /** The backend's concurrency limit (shared with the pools of earlier configurations for the same name). */
  readonly gate: BackendGate;
  /** The backend's circuit breaker (runtime/pipeline/breaker.ts); undefined when it has none, which costs nothing. */
  readonly breaker: CircuitBreaker | undefined;

  readonly name: string;

  /**
   * `gate` is the backend's gate when the gateway keeps one per name (else the pool has its own);
   * `health`, the gateway's member health by backend and URL (else the pool keeps its own);
   * `breaker` its circuit breaker, kept per name the same way.
   */
  constructor(spec: BackendSpec, gate?: BackendGate, health?: BackendHealth, breaker?: CircuitBreaker) {
    this.name = spec.name;
    this.gate = gate ?? new BackendGate(spec.name, spec.concurrency);
    this.breaker = breaker;
    this.timeoutMs = spec.timeoutMs;
    this.tls = spec.tls;
    this.http2 = spec.http2;
    this.#passive = spec.passive;
    // A single URL without health checks or passive ejection keeps the plain path: no balancer, no health.
    const balanced = spec.members.length > 1 || spec.health !== undefined || spec.passive !== undefined;
    const healths = balanced ? (health ?? new BackendHealth()) : undefined;
    this.#bases = spec.members.map(({ url: u }) => {
      const url = new URL(u);
      const path = url.pathname.replace(/\/+$/, "");
      const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
      return {
        prefix: url.origin + path,
        emptyRest: path ? "" : "/",
        host: url.host,
        hostname: url.hostname.replace(/^\[|\]$/g, ""),
        port,
        health: healths?.member(spec.name, u),
      };
    });
    this.#balancer = spec.members.length > 1
      ? new Balancer(spec.members.map((m, i) => ({ value: this.#bases[i]!, weight: m.weight, priority: m.priority, health: this.#bases[i]!.health! })))
      : undefined;
  }

  /**
   * The URL for a request: the next base (round robin by weight within the best priority group
   * with a healthy member), then the path after the API prefix ("" or starting with "/") and the
   * query string, both byte for byte as received.
   */
  target(rest: string, search: string): string {
    const base = this.#balancer ? this.#balancer.pick() : this.#bases[0]!;
    return base.prefix + (rest === "" ? base.emptyRest : rest) + search;
  }

  /** The origin of the base a URL from `target` was made with. */
  origin(url: string): BackendOrigin {
    const bases = this.#bases;
    if (bases.length === 1) return bases[0]!;
    return this.#baseOf(url) ?? bases[0]!;
  }

  /**
   * Reports how a call to a URL from `target` went: the response status, or undefined when the
   * member could not be reached or sent no headers in time. Passive ejection counts it; without
   * passive ejection this does nothing.
   */
  observe(url: string, status: number | undefined): void {
    const passive = this.#passive;
    if (passive === undefined) return;
    const base = this.#bases.length === 1 ? this.#bases[0]! : this.#baseOf(url);
    base?.health?.called(status, passive);
  }

  /** The base a URL was made with: the longest prefix that ends where the path or query goes on. */
  #baseOf(url: string): Base | undefined {
    let found: Base | undefined;
    for (const b of this.#bases) {
      if (!url.startsWith(b.prefix) || (found && found.prefix.length >= b.prefix.length)) continue;
      const after = url.charCodeAt(b.prefix.length);
      // End of URL, "/" or "?": a base `http://h/v` must not claim `http://h/v2/x`.
      if (Number.isNaN(after) || after === 47 || after === 63) found = b;
    }
    return found;
  }
}

/**
 * Pools for base URLs that policies choose at request time (set-backend-service `base-url`), so each
 * keeps its round-robin cursor and concurrency gate: one set per pipeline, bounded (cleared when full).
 */
export class UrlBackends {
  readonly #pools = new Map<string, BackendPool>();

  constructor(private readonly max = 256) {}

  /** The pool for `url`, with the timeout of the API's own backend and the default concurrency limit. */
  get(url: string, timeoutMs: number): BackendPool {
    const key = `${timeoutMs} ${url}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      if (this.#pools.size >= this.max) this.#pools.clear();
      pool = new BackendPool({
        name: new URL(url).origin,
        urls: [url],
        members: [{ url, weight: 1, priority: 0 }],
        health: undefined,
        passive: undefined,
        timeoutMs,
        concurrency: DEFAULT_CONCURRENCY,
        tls: undefined,
        http2: false,
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }
}
