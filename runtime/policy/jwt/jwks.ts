/**
 * Signing keys validate-jwt fetches: a JWKS named directly (`jwks: { url }`) or found through an
 * OpenID configuration (`openid-config: { url }`, its `jwks_uri`, and its `issuer`). Fetching stays
 * off the request path where it can: the first fetch starts when the policy is compiled, and a key
 * set older than the refresh interval is refreshed in the background while the old one keeps
 * serving. A token whose `kid` is unknown may make the source fetch again, but at most once per
 * cooldown, so random kids cannot make the gateway hammer the endpoint; a key published after a
 * rotation is picked up by the first token that names it once the cooldown has passed.
 *
 * Symmetric (`oct`) keys in a fetched JWKS are ignored: a secret served over HTTP would let anyone
 * who reads it sign tokens. An endpoint that is down or answers garbage never yields keys: tokens that need them are refused.
 * A failed refresh keeps the last good keys (a log line and a metric say so). This is why the
 * fetching is ours rather than jose's `createRemoteJWKSet` (which drops its keys when a refresh
 * fails): jose imports the keys it is handed (keys.ts) and verifies with them. A refresh that brings
 * the same keys keeps the imported ones.
 */
import { describeError } from "../../../config/schema/problems.ts";
import { signingJwk } from "../../../config/snapshot/build.ts";
import type { Logger } from "../../observability/log.ts";
import { importKeys, type KeySet } from "./keys.ts";

/** Why a fetch of keys failed, as the metric labels it. */
export type FetchFailure = "unreachable" | "status" | "invalid";

/** What fetching keys needs from the gateway. */
export interface FetchContext {
  readonly fetch: (url: string, init: RequestInit) => Promise<Response>;
  readonly logger?: Logger;
  /** Counts a failed fetch of an OpenID configuration or JWKS. */
  readonly fetchFailed?: (reason: FetchFailure) => void;
}

/** How long one document may take to arrive. */
const FETCH_TIMEOUT_MS = 5_000;
/** Largest OpenID configuration or JWKS read, in bytes. */
const MAX_DOCUMENT_BYTES = 512 * 1024;

class FetchError extends Error {
  constructor(
    readonly reason: FetchFailure,
    message: string,
  ) {
    super(message);
  }
}

/** Reads a body up to `limit` bytes; more is a failure, not a truncation. */
async function readLimited(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > limit) throw new FetchError("invalid", `the document is ${declared} bytes; at most ${limit} are read`);
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new FetchError("invalid", `the document is over ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** GETs a JSON document, with a timeout and a size limit. */
async function fetchJson(context: FetchContext, url: string): Promise<unknown> {
  let response: Response;
  try {
    response = await context.fetch(url, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  } catch (error) {
    throw new FetchError("unreachable", describeError(error));
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    throw new FetchError("status", `answered ${response.status}`);
  }
  let text: string;
  try {
    text = await readLimited(response, MAX_DOCUMENT_BYTES);
  } catch (error) {
    throw error instanceof FetchError ? error : new FetchError("unreachable", describeError(error));
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new FetchError("invalid", "the answer is not JSON");
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function httpUrl(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** What the last successful fetch that changed the keys gave. */
interface Fetched {
  readonly keys: KeySet;
  /** The keys' canonical JSON: a refresh that brings the same keys keeps the generation. */
  readonly text: string;
  readonly issuer: string | undefined;
}

/** Options of a remote key source. */
export interface RemoteKeysOptions {
  /** `openid`: an OpenID configuration document (its jwks_uri and issuer); `jwks`: a JWKS. */
  readonly kind: "openid" | "jwks";
  readonly url: string;
  /** How old keys may get before a background refresh (ms). */
  readonly refreshMs: number;
  /** The least time between two fetches (ms), whatever asks for them. */
  readonly cooldownMs: number;
  /** The policy's name, for log lines. */
  readonly policy: string;
  /** A monotonic clock in ms (default performance.now). */
  readonly clock?: () => number;
}

/** Keys from one OpenID configuration or JWKS URL, fetched, cached and refreshed (see the file's comment). */
export class RemoteKeys {
  #fetched: Fetched | undefined;
  /** Changes whenever the keys change, so tokens verified with older keys are checked again. */
  #generation = 0;
  /** When the last fetch started and when the last one succeeded (clock ms). */
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #lastSuccess = Number.NEGATIVE_INFINITY;
  #inflight: Promise<void> | undefined;
  /** Fetches started, for tests and the bench. */
  fetches = 0;
  readonly #clock: () => number;

  constructor(
    readonly options: RemoteKeysOptions,
    private readonly context: FetchContext,
  ) {
    this.#clock = options.clock ?? (() => performance.now());
  }

  /** Starts the first fetch (not awaited: compiling a configuration never waits for a key endpoint). */
  start(): void {
    void this.#refresh();
  }

  /** The current keys (undefined before the first successful fetch); starts a background refresh when they are stale. */
  get keys(): KeySet | undefined {
    if (!this.#inflight) {
      const now = this.#clock();
      if (now - this.#lastSuccess >= this.options.refreshMs && now - this.#lastAttempt >= this.options.cooldownMs) void this.#refresh();
    }
    return this.#fetched?.keys;
  }

  /** The issuer the OpenID configuration names, once fetched. */
  get issuer(): string | undefined {
    return this.#fetched?.issuer;
  }

  get generation(): number {
    return this.#generation;
  }

  /** Whether a fetch is running. */
  get fetching(): boolean {
    return this.#inflight !== undefined;
  }

  /**
   * Fetches again for a token the current keys cannot verify (unknown kid, or none yet), unless the
   * cooldown forbids it; joins a fetch already running. True when a fetch ran or was joined.
   */
  async refetch(): Promise<boolean> {
    if (this.#inflight) {
      await this.#inflight;
      return true;
    }
    if (this.#clock() - this.#lastAttempt < this.options.cooldownMs) return false;
    await this.#refresh();
    return true;
  }

  #refresh(): Promise<void> {
    if (this.#inflight) return this.#inflight;
    this.#lastAttempt = this.#clock();
    this.fetches += 1;
    this.#inflight = this.#load()
      .then(() => void (this.#lastSuccess = this.#clock()), (error: unknown) => this.#failed(error))
      .finally(() => (this.#inflight = undefined));
    return this.#inflight;
  }

  #failed(error: unknown): void {
    const reason = error instanceof FetchError ? error.reason : "invalid";
    this.context.fetchFailed?.(reason);
    const fields = { policy: this.options.policy, url: this.options.url, reason, error: describeError(error) };
    if (this.#fetched) this.context.logger?.warn("validate-jwt could not refresh its signing keys; the last ones stay in use", fields);
    else this.context.logger?.error("validate-jwt could not fetch its signing keys; tokens are refused until a fetch succeeds", fields);
  }

  /** Fetches the keys; when they differ from the current ones, imports them and moves to a new generation. */
  async #load(): Promise<void> {
    let jwksUrl = this.options.url;
    let issuer: string | undefined;
    if (this.options.kind === "openid") {
      const doc = await fetchJson(this.context, this.options.url);
      if (!isObject(doc)) throw new FetchError("invalid", "the OpenID configuration is not a JSON object");
      const uri = httpUrl(doc.jwks_uri);
      if (!uri) throw new FetchError("invalid", "the OpenID configuration has no http(s) jwks_uri");
      jwksUrl = uri;
      if (typeof doc.issuer === "string" && doc.issuer) issuer = doc.issuer;
    }
    const jwks = await fetchJson(this.context, jwksUrl);
    if (!isObject(jwks) || !Array.isArray(jwks.keys)) throw new FetchError("invalid", "the JWKS has no keys list");
    const kept = [];
    let skipped = 0;
    for (const item of jwks.keys) {
      const result = signingJwk(item);
      // A symmetric key served over HTTP is a secret anyone could read: never used to verify.
      if (!result.ok || result.key.kty === "oct") skipped += 1;
      else kept.push(result.key);
    }
    if (kept.length === 0) throw new FetchError("invalid", `the JWKS has no usable signing key (${skipped} skipped)`);
    const text = JSON.stringify([issuer, kept]);
    if (text === this.#fetched?.text) return;
    const { keys, failed } = await importKeys(kept);
    if (keys.keys.length === 0) throw new FetchError("invalid", `the JWKS has no usable signing key (${skipped + failed} skipped)`);
    this.#fetched = { keys, text, issuer };
    this.#generation += 1;
  }
}
