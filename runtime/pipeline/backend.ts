import { type BackendSpec, type BackendTlsMaterial, DEFAULT_CONCURRENCY } from "../../config/snapshot/build.ts";
import { BackendGate } from "./backend-gate.ts";
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
}

/** A backend ready for requests: parsed base URLs, a round-robin cursor over them, and its concurrency gate. */
export class BackendPool {
  readonly #bases: readonly Base[];
  #next = 0;
  /** How long the backend may take to send response headers. */
  readonly timeoutMs: number;
  /** TLS options with their files read (https:// backends with a `tls:` section). */
  readonly tls: BackendTlsMaterial | undefined;
  /** The backend's concurrency limit (shared with the pools of earlier configurations for the same name). */
  readonly gate: BackendGate;
  /** The backend's circuit breaker (runtime/pipeline/breaker.ts); undefined when it has none, which costs nothing. */
  readonly breaker: CircuitBreaker | undefined;

  readonly name: string;

  /**
   * `gate` is the backend's gate when the gateway keeps one per name (else the pool has its own);
   * `breaker` its circuit breaker, kept per name the same way.
   */
  constructor(spec: BackendSpec, gate?: BackendGate, breaker?: CircuitBreaker) {
    this.name = spec.name;
    this.gate = gate ?? new BackendGate(spec.name, spec.concurrency);
    this.breaker = breaker;
    this.timeoutMs = spec.timeoutMs;
    this.tls = spec.tls;
    this.#bases = spec.urls.map((u) => {
      const url = new URL(u);
      const path = url.pathname.replace(/\/+$/, "");
      const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
      return { prefix: url.origin + path, emptyRest: path ? "" : "/", host: url.host, hostname: url.hostname.replace(/^\[|\]$/g, ""), port };
    });
  }

  /**
   * The URL for a request: the next base in rotation, then the path after the API prefix ("" or
   * starting with "/") and the query string, both byte for byte as received.
   */
  target(rest: string, search: string): string {
    const bases = this.#bases;
    const base = bases.length === 1 ? bases[0]! : bases[this.#next++ % bases.length]!;
    return base.prefix + (rest === "" ? base.emptyRest : rest) + search;
  }

  /** The origin of the base a URL from `target` was made with. */
  origin(url: string): BackendOrigin {
    const bases = this.#bases;
    if (bases.length === 1) return bases[0]!;
    return bases.find((b) => url.startsWith(b.prefix)) ?? bases[0]!;
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
      pool = new BackendPool({ name: new URL(url).origin, urls: [url], timeoutMs, concurrency: DEFAULT_CONCURRENCY, tls: undefined });
      this.#pools.set(key, pool);
    }
    return pool;
  }
}
