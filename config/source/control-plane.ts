import { contentHash } from "../load.ts";
import { isLoopbackHost } from "../schema/ip.ts";
import { describeError } from "../schema/problems.ts";

/** Why talking to the control plane failed: it matters for what the gateway reports and retries. */
export type SyncFailureKind = "unreachable" | "unauthorized" | "server" | "protocol" | "module";

/** A failed exchange with the control plane; `reason` carries the 401 reason when there is one. */
export class SyncError extends Error {
  constructor(
    message: string,
    readonly kind: SyncFailureKind,
    readonly reason?: string,
  ) {
    super(message);
    this.name = "SyncError";
  }
}

/** The most specific reason a runtime's fetch gives for a network failure (`ECONNREFUSED` rather than "fetch failed"). */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return (error as { code?: string }).code ?? cause?.code ?? cause?.message ?? describeError(error);
}

/**
 * The origin of a control-plane endpoint whose traffic crosses the network unencrypted (plain
 * `http://` to a host that is not loopback), else undefined. Every pull and heartbeat carries the
 * gateway token in a header and views carry TLS private keys, so a gateway warns about such an
 * endpoint at start. Only the origin is returned: never a user or password a URL may hold.
 */
export function plainHttpEndpoint(endpoint: string): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return undefined;
  }
  return url.protocol === "http:" && !isLoopbackHost(url.hostname) ? url.origin : undefined;
}

/** A configuration view as downloaded: its exact text, sha256 and revision. */
export interface DownloadedView {
  readonly text: string;
  readonly hash: string;
  readonly revision: number;
}

/** How to reach a control plane. */
export interface ControlPlaneClientOptions {
  /** Base URL, e.g. `http://cp.example:8079` (a path prefix is kept). */
  readonly endpoint: string;
  readonly gateway: string;
  /** The gateway access token, with or without the `GatewayKey ` scheme. */
  readonly token: string;
  /** Time allowed for each exchange. */
  readonly timeoutMs: number;
  /** The `fetch` to use (one that trusts the control plane's CA); default: the global one. */
  readonly fetch?: typeof fetch;
}

/**
 * The gateway's side of the control-plane protocol: configuration with `If-None-Match`, policy
 * modules by sha256 (checked against the digest), heartbeats. Uses the runtime's `fetch`: these calls
 * are few and small, never on the request path.
 */
export class ControlPlaneClient {
  readonly #base: string;
  readonly #auth: string;

  constructor(readonly options: ControlPlaneClientOptions) {
    this.#base = `${options.endpoint.replace(/\/+$/, "")}/v1/gateways/${encodeURIComponent(options.gateway)}`;
    this.#auth = /^gatewaykey\s/i.test(options.token.trim()) ? options.token.trim() : `GatewayKey ${options.token.trim()}`;
  }

  async #fetch(path: string, init: RequestInit = {}, timeoutMs = this.options.timeoutMs): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", this.#auth);
    let response: Response;
    try {
      response = await (this.options.fetch ?? fetch)(`${this.#base}${path}`, {
        ...init,
        headers,
        signal: AbortSignal.timeout(timeoutMs),
        redirect: "error",
      });
    } catch (error) {
      const what = (error as Error).name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : networkReason(error);
      throw new SyncError(`control plane ${this.options.endpoint} unreachable: ${what}`, "unreachable");
    }
    if (response.status === 401) {
      const body = (await response.json().catch(() => ({}))) as { reason?: string; detail?: string };
      throw new SyncError(`control plane refused the gateway token: ${body.reason ?? "no reason given"}`, "unauthorized", body.reason);
    }
    if (response.status >= 500) {
      await response.body?.cancel();
      throw new SyncError(`control plane answered ${response.status} on ${path}`, "server");
    }
    return response;
  }

  /**
   * The gateway's configuration view, or `undefined` when it still has the ETag's hash (304).
   * `timeoutMs` shortens the exchange's time limit (the start-up wait when a backup can serve).
   */
  async configuration(knownHash: string | undefined, timeoutMs?: number): Promise<DownloadedView | undefined> {
    const response = await this.#fetch("/configuration", { headers: knownHash ? { "if-none-match": `"${knownHash}"` } : {} }, timeoutMs);
    if (response.status === 304) return undefined;
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new SyncError(`control plane answered ${response.status} for the configuration`, "protocol");
    }
    const text = await response.text();
    const hash = contentHash(text);
    const tag = response.headers.get("etag")?.replace(/^W\//, "").replace(/"/g, "");
    if (tag !== hash) throw new SyncError(`configuration download damaged: its sha256 is ${hash}, the ETag says ${tag ?? "nothing"}`, "protocol");
    const revision = Number(response.headers.get("portico-revision"));
    return { text, hash, revision: Number.isSafeInteger(revision) ? revision : 0 };
  }

  /** A policy module's bytes, refused unless their sha256 is `digest`; `timeoutMs` as for `configuration`. */
  async module(digest: string, timeoutMs?: number): Promise<Uint8Array> {
    const response = await this.#fetch(`/modules/${digest}`, {}, timeoutMs);
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new SyncError(`module ${digest}: the control plane answered ${response.status}`, "module");
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    const actual = contentHash(bytes);
    if (actual !== digest) throw new SyncError(`module ${digest}: sha256 mismatch (the bytes received hash to ${actual})`, "module");
    return bytes;
  }

  /** Sends a heartbeat report. */
  async heartbeat(report: Record<string, unknown>): Promise<void> {
    const response = await this.#fetch("/heartbeat", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(report) });
    await response.body?.cancel();
    if (response.status === 413) throw new SyncError("heartbeat: the control plane refused it as too large (413)", "protocol", "too-large");
    if (response.status !== 204 && response.status !== 200) throw new SyncError(`heartbeat: the control plane answered ${response.status}`, "protocol");
  }
}
