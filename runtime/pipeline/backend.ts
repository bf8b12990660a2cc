import { readBackendTls, type BackendTlsMaterial } from "../../config/certificates.ts";
import type { BackendConfig } from "../../config/schema/config.ts";
import { BackendGate } from "./backend-gate.ts";

interface Base {
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

  /** `baseDir` is where the backend's TLS files are (the configuration file's folder); `gate` the backend's gate, when the gateway keeps one per name. */
  constructor(
    readonly name: string,
    config: BackendConfig,
    baseDir = ".",
    gate?: BackendGate,
  ) {
    const { max, queue, queueTimeout } = config.concurrency;
    this.gate = gate ?? new BackendGate(name, { max, queue, queueTimeoutMs: queueTimeout });
    this.timeoutMs = config.timeout;
    this.tls = config.tls ? readBackendTls(name, config.tls, baseDir) : undefined;
    this.#bases = config.urls.map((u) => {
      const url = new URL(u);
      const path = url.pathname.replace(/\/+$/, "");
      return { prefix: url.origin + path, emptyRest: path ? "" : "/" };
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
}
