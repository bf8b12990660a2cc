import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describeError, formatProblem } from "../config/schema/problems.ts";
import { type DesiredConfig, folderFingerprint, type GatewayView, gatewayView, loadDesired } from "./desired.ts";
import { subscriptionNotices } from "./subscription-notices.ts";
import { MAX_HEARTBEAT_BYTES } from "./heartbeat.ts";
import { type FleetFigures, FleetTraffic } from "./fleet-metrics.ts";
import { ModuleStore } from "./modules.ts";
import { writeFileAtomic } from "../config/atomic-file.ts";
import { type AuthFailure, AuthFailureLog } from "./auth-failures.ts";
import { KeyStore } from "./state.ts";
import { contentHash } from "../config/load.ts";
import { NO_STORED_KEYS, type SubscriptionKeys, SubscriptionKeyStore } from "./subscriptions.ts";

/** Structured events of the control plane (the runtime's logger fits). */
export interface EventLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** The folders of a control plane's data directory. */
export interface DataLayout {
  readonly root: string;
  /** Desired configuration, `*.yaml` (watched). */
  readonly config: string;
  /** Keys, revisions, the admin token and stored modules: owner-only. */
  readonly state: string;
}

/** The folders under a data directory: `DIR/config` and `DIR/state`. */
export function dataLayout(root: string): DataLayout {
  return { root, config: join(root, "config"), state: join(root, "state") };
}

/** What a gateway reports in its heartbeat (every field optional: older or newer gateways may differ). */
export interface HeartbeatReport {
  readonly version?: string;
  readonly runtime?: string;
  readonly uptimeSeconds?: number;
  readonly applied?: { readonly revision: number; readonly hash: string } | null;
  readonly lastError?: {
    readonly at: string;
    readonly message: string;
    readonly revision?: number;
    readonly hash?: string;
    readonly problems?: readonly string[];
  } | null;
  readonly tokenExpires?: string;
  readonly syncIntervalMs?: number;
  readonly heartbeatIntervalMs?: number;
  /** What the gateway served since its previous heartbeat (HeartbeatTraffic), checked by FleetTraffic. */
  readonly traffic?: unknown;
}

/** What the control plane knows of one gateway, from its pulls, heartbeats and refused tokens. */
interface GatewayRecord {
  lastContact?: number;
  lastPull?: { at: number; status: 200 | 304 };
  heartbeat?: { at: number; report: HeartbeatReport };
  authFailure?: { at: number; reason: string };
  /** Heartbeats refused as too large (413), and when that was last logged. */
  heartbeatsTooLarge?: { count: number; warned: number };
  /** When a refused traffic summary of this gateway was last logged. */
  trafficWarned?: number;
}

/** A gateway whose heartbeats are refused as too large is logged at most this often. */
const TOO_LARGE_WARNING_MS = 10 * 60_000;

/** One revision of the desired configuration. */
export interface Revision {
  readonly number: number;
  readonly at: string;
  readonly desired: DesiredConfig;
  /** The subscription keys stored by the CLI that this revision's views carry (as hashes). */
  readonly keys: SubscriptionKeys;
  /** sha256 of the desired configuration's hash and the stored keys' fingerprint (the former alone without stored keys): a new key is a new revision. */
  readonly hash: string;
}

interface RevisionFile {
  format: 1;
  revision: number;
  hash: string;
  /** Per gateway (or `*` without a `gateways:` section): the revision where its view last changed. */
  views: Record<string, { revision: number; hash: string }>;
}

/** A view with the revision at which it last changed. */
export interface RevisionedView extends GatewayView {
  readonly revision: number;
}

const ALL = "*";

/**
 * The control plane's state: the desired configuration (watched, validated as a whole, numbered),
 * the views cut from it for each gateway, stored modules, keys, and what each gateway last reported.
 * An invalid change is rejected with every problem and the last good revision keeps being served.
 */
export class ControlPlane {
  readonly layout: DataLayout;
  readonly keys: KeyStore;
  /** Subscription keys made by `portico subscription` (salted hashes only), and the data directory's salt. */
  readonly subscriptionKeys: SubscriptionKeyStore;
  readonly modules: ModuleStore;
  readonly adminToken: string;
  /** Refused authentications, logged at most once per source per minute (see AuthFailureLog). */
  readonly authFailures: AuthFailureLog;
  /** The traffic summaries of the gateways' recent heartbeats (the fleet view). */
  readonly traffic = new FleetTraffic();
  #revision: Revision | undefined;
  #views = new Map<string, RevisionedView>();
  #rejected: { hash: string; at: string; problems: string[] } | undefined;
  #lastHash: string | undefined;
  /** The stamp of the subscription key file when it was last read into views. */
  #keysStamp: string | undefined;
  #revisions: RevisionFile;
  readonly #gateways = new Map<string, GatewayRecord>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    root: string,
    private readonly log: EventLog,
  ) {
    this.layout = dataLayout(root);
    mkdirSync(this.layout.config, { recursive: true });
    mkdirSync(this.layout.state, { recursive: true, mode: 0o700 });
    this.keys = new KeyStore(this.layout.state);
    this.subscriptionKeys = new SubscriptionKeyStore(this.layout.state);
    this.modules = new ModuleStore(join(this.layout.state, "modules"));
    this.adminToken = ensureAdminToken(join(this.layout.state, "admin-token"));
    this.authFailures = new AuthFailureLog(log);
    const revisionsPath = join(this.layout.state, "revisions.json");
    this.#revisions = existsSync(revisionsPath)
      ? (JSON.parse(readFileSync(revisionsPath, "utf8")) as RevisionFile)
      : { format: 1, revision: 0, hash: "", views: {} };
  }

  /** The live revision, if any configuration has validated yet. */
  get revision(): Revision | undefined {
    return this.#revision;
  }

  /** The last rejected change, until a valid one replaces it. */
  get rejected(): { hash: string; at: string; problems: string[] } | undefined {
    return this.#rejected;
  }

  /**
   * Reads the configuration folder and the stored subscription keys now. A change of the folder that
   * validates becomes the next revision; so does a change of the stored keys (made by the CLI),
   * on top of the last good configuration even while a newer one is rejected, so a regenerated key
   * is never held back by a broken file.
   */
  reload(): void {
    const result = loadDesired(this.layout.config, this.modules, () => this.subscriptionKeys.salt());
    // After loading, which may have made the salt: the stamp first, so a write between the two is read again at the next check.
    this.#keysStamp = this.subscriptionKeys.stamp();
    let keys: SubscriptionKeys;
    try {
      keys = this.subscriptionKeys.read();
    } catch (error) {
      // A damaged key file does not hold back the configuration: views keep the keys they had (none before the first revision).
      this.log.error("reading the stored subscription keys failed; views keep the keys they had", { error: describeError(error) });
      keys = this.#revision?.keys ?? NO_STORED_KEYS;
    }
    if (result.hash === this.#lastHash) {
      if (this.#revision && keys.fingerprint !== this.#revision.keys.fingerprint) {
        this.#publish(this.#revision.desired, keys, "stored subscription keys changed");
      }
      return;
    }
    this.#lastHash = result.hash;
    if (!result.ok) {
      this.#rejected = { hash: result.hash, at: new Date().toISOString(), problems: result.problems.map(formatProblem) };
      this.log.error("desired configuration rejected; gateways keep receiving the last good revision", {
        hash: result.hash,
        liveRevision: this.#revision?.number,
        problems: this.#rejected.problems,
      });
      if (this.#revision && keys.fingerprint !== this.#revision.keys.fingerprint) {
        this.#publish(this.#revision.desired, keys, "stored subscription keys changed");
      }
      return;
    }
    this.#rejected = undefined;
    this.#publish(result, keys, "desired configuration accepted");
  }

  /** Re-reads the stored subscription keys when their file changed since the views were cut (a stat; called on every pull). */
  #refreshKeys(): void {
    if (this.subscriptionKeys.stamp() === this.#keysStamp) return;
    try {
      this.reload();
    } catch (error) {
      this.log.error("reading the desired configuration failed", { error: describeError(error) });
    }
  }

  /** Makes a revision of a desired configuration with the stored keys, cuts its views, and logs it with what operators should know of its subscriptions. */
  #publish(desired: DesiredConfig, keys: SubscriptionKeys, message: string): void {
    // Without stored keys the revision's hash is the configuration's, as before there were any.
    const hash = keys.fingerprint === "" ? desired.hash : contentHash(`${desired.hash}\n${keys.fingerprint}`);
    const number = hash === this.#revisions.hash ? this.#revisions.revision : this.#revisions.revision + 1;
    this.#revision = { number, at: new Date().toISOString(), desired, keys, hash };
    this.#cutViews();
    this.log.info(message, { revision: number, hash, apis: desired.config.apis.length });
    for (const notice of subscriptionNotices(desired, keys)) this.log.warn(notice.message, { subscription: notice.subscription });
  }

  /** Recomputes every gateway's view; a view keeps its revision number while its bytes stay the same. */
  #cutViews(): void {
    const revision = this.#revision!;
    const names = new Set([ALL, ...Object.keys(revision.desired.config.gateways), ...this.keys.gateways(), ...this.#gateways.keys()]);
    const file: RevisionFile = { format: 1, revision: revision.number, hash: revision.hash, views: {} };
    this.#views.clear();
    for (const name of names) {
      const view = gatewayView(revision.desired, this.#assignment(name), revision.keys);
      const before = this.#revisions.views[name];
      const number = before?.hash === view.hash ? before.revision : revision.number;
      this.#views.set(name, { ...view, revision: number });
      file.views[name] = { revision: number, hash: view.hash };
    }
    this.#revisions = file;
    writeFileAtomic(join(this.layout.state, "revisions.json"), `${JSON.stringify(file, null, 2)}\n`);
  }

  #assignment(name: string) {
    const gateways = this.#revision!.desired.config.gateways;
    if (Object.keys(gateways).length === 0 || name === ALL) return undefined;
    return Object.hasOwn(gateways, name) ? gateways[name]! : { apis: [], hostnames: [] };
  }

  /**
   * The view for a gateway: its assignment when the configuration has a `gateways:` section (a gateway
   * not listed there gets no APIs), else the whole configuration.
   */
  viewFor(gateway: string): RevisionedView | undefined {
    this.#refreshKeys();
    if (!this.#revision) return undefined;
    let view = this.#views.get(gateway) ?? (this.#assignment(gateway) ? undefined : this.#views.get(ALL));
    if (!view) {
      const cut = gatewayView(this.#revision.desired, this.#assignment(gateway), this.#revision.keys);
      view = { ...cut, revision: this.#revision.number };
      this.#views.set(gateway, view);
    }
    return view;
  }

  /** Starts watching the configuration folder (polling, portable and robust to editors' renames). */
  watch(intervalMs = 1000): void {
    let seen = folderFingerprint(this.layout.config);
    this.#timer = setInterval(() => {
      const now = folderFingerprint(this.layout.config);
      if (now === seen && this.subscriptionKeys.stamp() === this.#keysStamp) return;
      seen = now;
      try {
        this.reload();
      } catch (error) {
        this.log.error("reading the desired configuration failed", { error: describeError(error) });
      }
    }, intervalMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Stops watching (and the timer of the failed-authentication log). */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.authFailures.close();
  }

  #record(gateway: string): GatewayRecord {
    let record = this.#gateways.get(gateway);
    if (!record) this.#gateways.set(gateway, record = {});
    return record;
  }

  /** Notes an authenticated configuration pull. */
  pulled(gateway: string, status: 200 | 304): void {
    const record = this.#record(gateway);
    record.lastContact = Date.now();
    record.lastPull = { at: record.lastContact, status };
  }

  /**
   * Notes a heartbeat. Its traffic summary goes to the fleet view (not kept with the report); a
   * malformed one is refused there, counted, and logged at most every 10 minutes per gateway,
   * while the rest of the heartbeat is taken.
   */
  heartbeat(gateway: string, report: HeartbeatReport): void {
    const record = this.#record(gateway);
    const before = record.heartbeat?.report.lastError;
    record.lastContact = Date.now();
    const { traffic, ...rest } = report;
    record.heartbeat = { at: record.lastContact, report: rest };
    if (traffic !== undefined) {
      const refused = this.traffic.add(gateway, traffic, record.lastContact);
      if (refused && record.lastContact - (record.trafficWarned ?? -Infinity) >= TOO_LARGE_WARNING_MS) {
        record.trafficWarned = record.lastContact;
        this.log.warn("gateway heartbeat's traffic summary refused; the rest of the heartbeat was taken", { gateway, reason: refused });
      }
    }
    // Logged when it changes, not with every heartbeat that repeats it.
    if (report.lastError && (report.lastError.message !== before?.message || report.lastError.hash !== before?.hash)) {
      this.log.warn("gateway reports a configuration it could not apply", { gateway, ...report.lastError });
    }
  }

  /** Notes a heartbeat refused as too large (it was not read): counted, and logged at most every 10 minutes per gateway. */
  heartbeatTooLarge(gateway: string, now = Date.now()): void {
    const record = this.#record(gateway);
    record.lastContact = now;
    const refused = (record.heartbeatsTooLarge ??= { count: 0, warned: 0 });
    refused.count += 1;
    if (now - refused.warned < TOO_LARGE_WARNING_MS) return;
    refused.warned = now;
    this.log.warn("gateway heartbeat refused: larger than the limit", { gateway, limitBytes: MAX_HEARTBEAT_BYTES, refused: refused.count });
  }

  /**
   * Notes a refused authentication: logged (rate-limited per source), and, for a token of a gateway
   * the control plane knows (`gateway`, with the `reason` the 401 gave), kept so the admin view
   * shows why that gateway cannot sync.
   */
  authFailed(failure: AuthFailure, gateway?: { name: string; reason: string }): void {
    this.authFailures.record(failure);
    if (!gateway || (!this.#gateways.has(gateway.name) && !this.keys.keysOf(gateway.name))) return; // unknown names are not worth a record
    this.#record(gateway.name).authFailure = { at: Date.now(), reason: gateway.reason };
  }

  /** The fleet view (`GET /v1/admin/metrics`): traffic per gateway, per API and in all over the last 5 minutes. */
  metrics(now = Date.now()): FleetFigures {
    return this.traffic.figures(now);
  }

  /** Every gateway's status, for the admin API. */
  status(now = Date.now()) {
    const desiredNames = this.#revision ? Object.keys(this.#revision.desired.config.gateways) : [];
    const names = [...new Set([...desiredNames, ...this.keys.gateways(), ...this.#gateways.keys()])].sort();
    return {
      desired: this.#revision ? { revision: this.#revision.number, hash: this.#revision.hash, at: this.#revision.at } : null,
      rejected: this.#rejected ?? null,
      gateways: names.map((name) => {
        const record = this.#gateways.get(name) ?? {};
        const report = record.heartbeat?.report;
        const view = this.viewFor(name);
        const beat = report?.heartbeatIntervalMs ?? 60_000;
        const sync = report?.syncIntervalMs ?? 10_000;
        const online = record.lastContact !== undefined && now - record.lastContact <= Math.max(2 * beat, 3 * sync) + 1_000;
        return {
          name,
          online,
          lastContact: iso(record.lastContact),
          lastHeartbeat: iso(record.heartbeat?.at),
          desired: view ? { revision: view.revision, hash: view.hash } : null,
          applied: report?.applied ?? null,
          inSync: view !== undefined && report?.applied?.hash === view.hash,
          lastError: report?.lastError ?? null,
          lastAuthFailure: record.authFailure ? { at: iso(record.authFailure.at), reason: record.authFailure.reason } : null,
          heartbeatsTooLarge: record.heartbeatsTooLarge?.count ?? 0,
          tokenExpires: report?.tokenExpires ?? null,
          version: report?.version ?? null,
          runtime: report?.runtime ?? null,
          uptimeSeconds: report?.uptimeSeconds ?? null,
        };
      }),
    };
  }
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

/** The admin token: read from the state folder, or made (owner-only) on first start. */
function ensureAdminToken(path: string): string {
  if (existsSync(path)) return readFileSync(path, "utf8").trim();
  const token = randomBytes(32).toString("base64url");
  writeFileAtomic(path, `${token}\n`);
  return token;
}
