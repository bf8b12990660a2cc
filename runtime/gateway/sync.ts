import { existsSync } from "node:fs";
import { BackupError, type BackupStore, type ConfigSnapshot } from "../../config/backup.ts";
import { reportedProblems, reportedText } from "../../control-plane/heartbeat.ts";
import { readClaims } from "../../control-plane/tokens.ts";
import { buildSnapshot, loadView, moduleDigests } from "../../config/snapshot/build.ts";
import { type ControlPlaneClient, type DownloadedView, SyncError } from "../../config/source/control-plane.ts";
import type { Logger } from "../observability/log.ts";
import type { GatewayMetrics } from "../observability/metrics.ts";
import type { TrafficSummary } from "../observability/summary.ts";
import type { ConfigApplier } from "./apply.ts";
import { describeError } from "../../config/schema/problems.ts";

/** From this long before its token expires, the gateway warns (log, metric, heartbeat). */
const TOKEN_WARNING_MS = 7 * 86_400_000;

/**
 * At start-up, with a backup to serve from, how long each exchange of the first pull may take
 * (at most the client's own limit): a control plane that does not answer at all (a dropped link, a
 * firewall that discards) would otherwise keep the host without service for the whole exchange
 * timeout, up to 10 s, where a refused connection fails at once. Past it the gateway serves its
 * backup and keeps asking on its usual schedule (docs/control-plane.md, "Backups and fail static").
 */
export const BACKUP_START_WAIT_MS = 2_000;

/** A configuration the gateway could not apply, as its heartbeat and logs report it. */
export interface SyncFailure {
  readonly at: string;
  readonly message: string;
  readonly revision?: number;
  readonly hash?: string;
  readonly problems?: readonly string[];
}

/** What the sync loop needs. */
export interface SyncOptions {
  readonly client: ControlPlaneClient;
  readonly applier: ConfigApplier;
  /** Where the last good configuration is kept; undefined when `config.backup.enabled` is false. */
  readonly backup: BackupStore | undefined;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly syncIntervalMs: number;
  readonly heartbeatIntervalMs: number;
  /** Version and runtime, reported in heartbeats. */
  readonly version: string;
  readonly runtime: string;
  /** The traffic counted since the last heartbeat; each heartbeat takes it (field `traffic`). */
  readonly summary?: TrafficSummary;
}

/** Configuration failures that will not go away by asking again for the same bytes. */
class Refused extends Error {
  constructor(
    readonly view: DownloadedView,
    readonly problems: string[],
  ) {
    super(problems[0] ?? "refused");
  }
}

/**
 * Keeps a gateway's configuration in step with its control plane: pulls every sync interval with
 * `If-None-Match`, fetches and checks the policy modules a new view names, has the applier compile
 * and swap it, and backs up what went live. While the control plane fails, the gateway keeps
 * serving and retries with jittered exponential back-off; heartbeats report what is applied and
 * what was refused. A refused view is remembered by hash, so it is not downloaded again until it changes.
 */
export class ControlPlaneSync {
  #applied: { revision: number; hash: string } | undefined;
  /** The hash sent as If-None-Match: the applied view's, or the last refused one's. */
  #known: string | undefined;
  #modules = new Map<string, Uint8Array>();
  #lastError: SyncFailure | undefined;
  #failures = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  #heartbeatFailing = false;
  #lastTokenWarning = 0;
  #startedFrom: "control plane" | "backup" | undefined;
  /** The view being fetched and applied, so a failure half-way is reported with its revision. */
  #pending: DownloadedView | undefined;
  readonly #tokenExpires: number | undefined;

  constructor(private readonly options: SyncOptions) {
    this.#tokenExpires = readClaims(options.client.options.token)?.expires;
    if (this.#tokenExpires !== undefined) options.metrics.tokenExpiresAt = this.#tokenExpires;
    options.metrics.sync = { lastSuccessAt: undefined };
  }

  /** The control plane revision and hash that are live, if any. */
  get applied(): { revision: number; hash: string } | undefined {
    return this.#applied;
  }

  /**
   * Gets a first configuration: from the control plane, else from the backup. Throws a one-line
   * Error when neither gives one (the caller exits non-zero).
   */
  async start(): Promise<void> {
    this.#warnAboutToken();
    const { backup, client } = this.options;
    // Without a backup there is nothing else to serve: the first pull gets the client's whole limit.
    const waitMs = backup && existsSync(backup.file) ? Math.min(BACKUP_START_WAIT_MS, client.options.timeoutMs) : undefined;
    let reason: string;
    try {
      await this.#pull(true, waitMs);
      if (this.#applied) {
        this.#startedFrom = "control plane";
        return;
      }
      reason = "the control plane's configuration was refused";
    } catch (error) {
      reason = error instanceof Refused ? `the control plane's configuration was refused (${error.problems[0]})` : describeError(error);
    }
    const fromBackup = await this.#startFromBackup(reason);
    if (!fromBackup) throw new Error(`no configuration to serve: ${reason}, and ${this.#backupMissing()}`);
  }

  #backupMissing(): string {
    return this.options.backup ? `there is no backup at ${this.options.backup.file}` : "backups are disabled (config.backup.enabled)";
  }

  async #startFromBackup(reason: string): Promise<boolean> {
    const { backup, logger } = this.options;
    if (!backup) return false;
    let snapshot: ConfigSnapshot | undefined;
    try {
      snapshot = backup.load();
    } catch (error) {
      if (error instanceof BackupError) throw new Error(`no configuration to serve: ${reason}, and ${error.message}`);
      throw error;
    }
    if (!snapshot) return false;
    this.#modules = new Map(snapshot.modules);
    const loaded = loadView(snapshot.text, `backup ${backup.file}`, snapshot.format === 1 ? "yaml" : "json");
    const outcome = await this.options.applier.apply(buildSnapshot(loaded, this.#buildOptions()), {
      source: `backup ${backup.file}`,
      revision: snapshot.revision,
      origin: "backup",
      quiet: true,
    });
    if (!outcome.ok) throw new Error(`no configuration to serve: ${reason}, and the backup ${backup.file} does not apply: ${outcome.problems[0]}`);
    this.#applied = { revision: snapshot.revision ?? 0, hash: snapshot.hash };
    this.#known = snapshot.hash;
    this.#startedFrom = "backup";
    this.#fail(reason);
    logger.warn("started from the configuration backup; the control plane will be asked again", {
      backup: backup.file,
      revision: snapshot.revision,
      hash: snapshot.hash,
      savedAt: snapshot.savedAt,
      reason,
    });
    return true;
  }

  /** Starts the pull loop and the heartbeat. */
  run(): void {
    this.#schedule(this.#failures ? this.#retryDelay() : this.options.syncIntervalMs);
    void this.#beat();
    this.#heartbeatTimer = setInterval(() => void this.#beat(), this.options.heartbeatIntervalMs);
    (this.#heartbeatTimer as { unref?: () => void }).unref?.();
  }

  /** Stops pulling and beating. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#heartbeatTimer);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), delayMs);
  }

  async #tick(): Promise<void> {
    try {
      await this.#pull(false);
      if (this.#failures) this.options.logger.info("control plane reachable again", { after: this.#failures });
      this.#failures = 0;
    } catch (error) {
      if (!(error instanceof Refused)) {
        this.#failures += 1;
        this.options.metrics.syncFailures += 1;
        this.#fail(describeError(error), this.#pending);
        this.options.logger.warn("configuration sync failed; the live configuration keeps serving", {
          error: describeError(error),
          attempt: this.#failures,
          live: this.#applied,
        });
      }
    }
    this.#schedule(this.#failures ? this.#retryDelay() : this.options.syncIntervalMs);
  }

  /** Back-off while the control plane fails: the sync interval doubling, at most six intervals, ±25 % jitter. */
  #retryDelay(): number {
    const base = Math.min(this.options.syncIntervalMs * 2 ** (this.#failures - 1), 6 * this.options.syncIntervalMs);
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }

  #fail(message: string, view?: DownloadedView, problems?: readonly string[]): void {
    this.#lastError = { at: new Date().toISOString(), message, revision: view?.revision, hash: view?.hash, problems };
  }

  /**
   * One exchange: download if changed, refuse or apply. Throws SyncError (retry later) or Refused
   * (remembered). `timeoutMs` limits each call to the control plane (the start-up wait).
   */
  async #pull(initial: boolean, timeoutMs?: number): Promise<void> {
    this.#pending = undefined;
    const view = await this.options.client.configuration(this.#known, timeoutMs);
    if (!view) {
      // Unchanged. A transient error (such as a module download) is over once the control plane answers.
      if (this.#applied?.hash === this.#known) {
        this.#lastError = undefined;
        this.#inStep();
      }
      return;
    }
    this.#pending = view;
    await this.#take(view, initial, timeoutMs);
    this.#pending = undefined;
  }

  async #take(view: DownloadedView, initial: boolean, timeoutMs?: number): Promise<void> {
    const source = `control plane revision ${view.revision}`;
    const loaded = loadView(view.text, source);
    const digests = moduleDigests(loaded);
    await this.#fetchModules(digests, timeoutMs);
    const outcome = await this.options.applier.apply(buildSnapshot(loaded, this.#buildOptions()), {
      source,
      revision: view.revision,
      origin: "control-plane",
      quiet: initial,
    });
    if (!outcome.ok) {
      this.#known = view.hash;
      this.#fail(`revision ${view.revision} refused: ${outcome.problems.length} problem${outcome.problems.length === 1 ? "" : "s"}`, view, outcome.problems);
      if (!initial) void this.#beat(); // the control plane hears of it now, not a heartbeat interval later
      throw new Refused(view, outcome.problems);
    }
    this.#known = view.hash;
    this.#applied = { revision: view.revision, hash: view.hash };
    this.#lastError = undefined;
    this.#inStep();
    this.#keepOnly(digests);
    this.#save(view);
    if (!initial) void this.#beat();
  }

  /** Notes (for the sync age metric) that the gateway serves what the control plane has for it now. */
  #inStep(): void {
    if (this.options.metrics.sync) this.options.metrics.sync.lastSuccessAt = Date.now();
  }

  /** Downloads the modules a view names that the gateway does not have; each is checked against its sha256. */
  async #fetchModules(digests: readonly string[], timeoutMs?: number): Promise<void> {
    for (const sha256 of digests) {
      if (this.#modules.has(sha256)) continue;
      this.#modules.set(sha256, await this.options.client.module(sha256, timeoutMs));
    }
  }

  #keepOnly(digests: readonly string[]): void {
    const used = new Set(digests);
    for (const digest of this.#modules.keys()) if (!used.has(digest)) this.#modules.delete(digest);
  }

  #buildOptions() {
    return { moduleBytes: (digest: string) => this.#modules.get(digest) };
  }

  #save(view: DownloadedView): void {
    const { backup, logger } = this.options;
    if (!backup) return;
    try {
      backup.save({ text: view.text, hash: view.hash, revision: view.revision, gateway: this.options.client.options.gateway, modules: this.#modules });
    } catch (error) {
      logger.error("could not write the configuration backup", { backup: backup.file, error: describeError(error) });
    }
  }

  #warnAboutToken(now = Date.now()): void {
    const expires = this.#tokenExpires;
    if (expires === undefined || expires - now > TOKEN_WARNING_MS) return;
    if (now - this.#lastTokenWarning < 3_600_000) return;
    this.#lastTokenWarning = now;
    const at = new Date(expires).toISOString();
    if (expires <= now) {
      this.options.logger.error("the gateway token has expired; the last good configuration keeps serving until a new token is set", { expires: at });
    } else {this.options.logger.warn("the gateway token expires soon; create a new one (portico token create) and set config.service.auth", {
        expires: at,
        days: Math.round((expires - now) / 8_640_000) / 10,
      });}
  }

  /**
   * The heartbeat report: name, version, uptime, what is applied, the last failure, token expiry.
   * The failure's message and problems are cut (control-plane/heartbeat.ts) so that the
   * report stays within the control plane's heartbeat limit however many problems there were.
   * With a traffic summary, the report takes it (and so resets it): `traffic` holds what was served
   * since the previous report, within MAX_TRAFFIC_BYTES. A report that is not delivered loses its
   * traffic; the control plane's rates are computed over the intervals it did receive.
   */
  report(): Record<string, unknown> {
    const { metrics, syncIntervalMs, heartbeatIntervalMs, version, runtime } = this.options;
    const error = this.#lastError;
    return {
      version,
      runtime,
      uptimeSeconds: Math.round((Date.now() - metrics.startedAt) / 1000),
      applied: this.#applied ?? null,
      lastError: error ? { ...error, message: reportedText(error.message), problems: error.problems && reportedProblems(error.problems) } : null,
      tokenExpires: this.#tokenExpires === undefined ? undefined : new Date(this.#tokenExpires).toISOString(),
      tokenExpiresSoon: this.#tokenExpires !== undefined && this.#tokenExpires - Date.now() <= TOKEN_WARNING_MS,
      startedFrom: this.#startedFrom,
      syncIntervalMs,
      heartbeatIntervalMs,
      traffic: this.options.summary?.take(),
    };
  }

  async #beat(): Promise<void> {
    this.#warnAboutToken();
    try {
      await this.options.client.heartbeat(this.report());
      if (this.#heartbeatFailing) this.options.logger.info("heartbeat delivered again");
      this.#heartbeatFailing = false;
    } catch (error) {
      this.options.metrics.heartbeatFailed(error instanceof SyncError ? (error.reason === "too-large" ? "too-large" : error.kind) : "other");
      if (!this.#heartbeatFailing) {
        this.options.logger.warn("heartbeat failed", {
          error: describeError(error),
          unauthorized: error instanceof SyncError && error.kind === "unauthorized",
        });
      }
      this.#heartbeatFailing = true;
    }
  }
}
