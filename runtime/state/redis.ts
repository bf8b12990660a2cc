/**
 * The gateway's connection to Redis (docs/shared-state.md), made from the `cache.redis.*` settings:
 * one server (`cache.redis.url`), a Sentinel-watched primary or a Cluster, through the official
 * client (`redis`, node-redis), which runs on Bun, Deno and Node and supports all three.
 *
 * Requests never wait for a connection: commands fail at once while the client is reconnecting
 * (no offline queue), and every call through `call` is bounded by `cache.redis.timeout`. A failure
 * or a timeout marks Redis down; while it is down nothing is sent for requests and a probe (PING,
 * every PROBE_MS) brings it back without a restart, alongside the client's own reconnection with
 * back-off. The state changes are logged once each way; the password is never logged.
 */
import { readFileSync } from "node:fs";
import { createClient, createCluster, createSentinel, RESP_TYPES } from "redis";
import { redisConfigured, type RedisNode, type Settings } from "../../config/schema/settings.ts";
import { describeError } from "../../config/schema/problems.ts";
import type { Logger } from "../observability/log.ts";
import { ensureTracingChannelHasSubscribers } from "./tracing-channel.ts";

// node-redis reads the getter per command, so defining it after the client module loaded is enough.
ensureTracingChannelHasSubscribers();

/** How often a Redis marked down is probed (PING) until it answers again. */
const PROBE_MS = 500;
/** Longest pause between reconnection attempts of the client (the first is 50 ms, doubling). */
const MAX_RECONNECT_MS = 2_000;

/** Where the Redis is and how to reach it, resolved from the settings. */
export interface RedisOptions {
  /** The topology: one server, a Sentinel-watched primary, or a Cluster. */
  readonly topology:
    | { readonly kind: "single"; readonly url: string }
    | { readonly kind: "sentinel"; readonly master: string; readonly nodes: readonly RedisNode[]; readonly sentinelPassword?: string }
    | { readonly kind: "cluster"; readonly nodes: readonly RedisNode[] };
  /** The password (from the URL, `cache.redis.password` or `cache.redis.password-file`); never logged. */
  readonly password?: string;
  /** Longest wait for one round trip, in ms (`cache.redis.timeout`). */
  readonly timeoutMs: number;
  /** Put before every key, so that several gateways' configurations can share one Redis (`cache.redis.key-prefix`). */
  readonly prefix: string;
  /** Most calls taken ahead at once on one busy shared counter (`cache.redis.prefetch`; 0: none; counter-leases.ts). */
  readonly prefetch?: number;
}

/**
 * The Redis options the settings describe, or undefined when they name no Redis. Reads the password
 * file now (a file that cannot be read is an Error naming the setting, never its content).
 */
export function redisOptions(settings: Settings): RedisOptions | undefined {
  if (!redisConfigured(settings)) return undefined;
  let password = settings["cache.redis.password"];
  const file = settings["cache.redis.password-file"];
  if (file !== undefined) {
    try {
      password = readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (error) {
      throw new Error(`cache.redis.password-file: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`);
    }
  }
  const url = settings["cache.redis.url"];
  const master = settings["cache.redis.sentinel.master-name"];
  const sentinels = settings["cache.redis.sentinel.nodes"];
  const topology: RedisOptions["topology"] = url
    ? { kind: "single", url }
    : master && sentinels
    ? { kind: "sentinel", master, nodes: sentinels, sentinelPassword: settings["cache.redis.sentinel.password"] }
    : { kind: "cluster", nodes: settings["cache.redis.cluster.nodes"]! };
  return {
    topology,
    password,
    timeoutMs: settings["cache.redis.timeout"],
    prefix: settings["cache.redis.key-prefix"],
    prefetch: settings["cache.redis.prefetch"],
  };
}

/** A command's arguments: text, or bytes (a KV value). */
export type RedisArgs = (string | Uint8Array)[];

/** What the three kinds of client have in common here: sending a command routed by its first key. */
interface Sender {
  /** `binary`: bulk strings in the reply come back as bytes (Buffer) instead of text. */
  send(key: string | undefined, args: RedisArgs, binary?: boolean): Promise<unknown>;
  close(): Promise<void>;
}

/** Bulk string replies as bytes, for the KV store's values. */
const BINARY = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;

/** Arguments as node-redis takes them (bytes as Buffer views, no copy). */
function wire(args: RedisArgs): (string | Buffer)[] {
  return args.map((a) => typeof a === "string" ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength));
}

/** Why a call was not made or did not complete in time; the caller falls back or refuses. */
export class RedisUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RedisUnavailable";
  }
}

/** A Lua script run with EVALSHA (its text is sent only when the server does not hold it yet). */
export class LuaScript {
  readonly sha1: string;
  constructor(readonly source: string, sha1: string) {
    this.sha1 = sha1;
  }
}

/** SHA-1 of a script's text, as Redis names scripts (Web Crypto, available on Bun, Deno and Node). */
export async function luaScript(source: string): Promise<LuaScript> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", new TextEncoder().encode(source)));
  return new LuaScript(source, Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""));
}

/** Counts of the connection's life, for `/metrics` and `/readyz`. */
export interface RedisStats {
  /** Whether requests use Redis now (false while it is down and being probed). */
  readonly up: boolean;
  /** Times Redis went down (a failed or timed-out call, or a lost connection). */
  readonly outages: number;
  /** Calls that failed or passed `cache.redis.timeout`. */
  readonly failures: number;
}

/**
 * One connection to Redis for the whole process, shared by the counters and the KV store. `up`
 * says whether requests may use it now; `call` makes one bounded round trip.
 */
export class RedisConnection implements RedisStats {
  #up = false;
  #outages = 0;
  #failures = 0;
  #probe: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  /** Whether the outage being lived was logged (once per outage). */
  #logged = false;

  private constructor(
    readonly options: RedisOptions,
    /** Where Redis is (scheme, host and port, the Sentinel master name, or the Cluster seeds), for logs: never the password. */
    readonly describe: string,
    readonly sender: Sender,
    readonly logger: Logger,
  ) {}

  /** Connects in the background: the gateway starts (and counts in-process) while Redis is not there yet. */
  static open(options: RedisOptions, logger: Logger): RedisConnection {
    const { sender, describe, onState } = makeSender(options);
    const connection = new RedisConnection(options, describe, sender, logger);
    // Probing starts once the client is connected (or has failed to): a command sent while it
    // connects fails at once (no offline queue), and that is not an outage.
    onState((event, error) => connection.#event(event, error));
    return connection;
  }

  get up(): boolean {
    return this.#up;
  }

  get outages(): number {
    return this.#outages;
  }

  get failures(): number {
    return this.#failures;
  }

  /**
   * Sends one command (routed by `key` on a Cluster), bounded by `cache.redis.timeout`; rejects
   * with RedisUnavailable when Redis is down (without sending), fails, or is late. Commands given
   * in the same tick travel together (the client pipelines them).
   */
  call(key: string | undefined, args: RedisArgs, binary = false): Promise<unknown> {
    if (!this.#up) return Promise.reject(new RedisUnavailable("Redis is unavailable"));
    return this.bounded(this.sender.send(key, args, binary));
  }

  /**
   * Runs a script on `key` (EVALSHA, then EVAL when the server does not hold it), bounded like
   * `call`; with `bounded` false, the caller bounds it (several scripts awaited together under one
   * timer with `bounded()`).
   */
  script(script: LuaScript, key: string, args: string[], bounded = true): Promise<unknown> {
    if (!this.#up) return Promise.reject(new RedisUnavailable("Redis is unavailable"));
    return bounded ? this.bounded(this.#evaluate(script, key, args)) : this.#evaluate(script, key, args);
  }

  async #evaluate(script: LuaScript, key: string, args: string[]): Promise<unknown> {
    try {
      return await this.sender.send(key, ["EVALSHA", script.sha1, "1", key, ...args]);
    } catch (error) {
      if (!String((error as Error)?.message).startsWith("NOSCRIPT")) throw error;
      return await this.sender.send(key, ["EVAL", script.source, "1", key, ...args]);
    }
  }

  /**
   * `pending` within `cache.redis.timeout` (one timer); rejects with RedisUnavailable when it is
   * late or the connection failed, and marks Redis down then. An error reply of the server (a bad
   * script, a key of another type) is passed on as it is and is not an outage.
   */
  bounded<T>(pending: Promise<T>): Promise<T> {
    return within(pending, this.options.timeoutMs).catch((error: unknown) => {
      // A script error (a bug, or a key of another type) is the call's failure, not an outage.
      if (!isConnectionError(error)) throw error;
      this.#failed(error);
      throw error instanceof RedisUnavailable ? error : new RedisUnavailable(`Redis failed: ${describeError(error)}`, { cause: error });
    });
  }

  /** A call failed or was late: Redis is down until the probe gets an answer. */
  #failed(error: unknown): void {
    this.#failures += 1;
    this.#down(error);
  }

  #down(error: unknown): void {
    if (this.#closed) return;
    if (this.#up) {
      this.#up = false;
      this.#outages += 1;
    }
    if (!this.#logged) {
      this.#logged = true;
      this.logger.warn("Redis is unavailable: shared counters fall back as each policy's redis-failure says until it answers again", {
        redis: this.describe,
        reason: describeError(error),
      });
    }
    this.#startProbing();
  }

  #event(event: "ready" | "error", error?: unknown): void {
    if (event === "error") this.#down(error);
    else this.#startProbing();
  }

  /** Pings until Redis answers within the timeout, then marks it up (and says so once). */
  #startProbing(): void {
    if (this.#probe || this.#closed) return;
    const probe = async () => {
      try {
        await within(this.sender.send(undefined, ["PING"]), Math.max(this.options.timeoutMs, 1_000));
      } catch (error) {
        // Not reachable (at start, or still): said once per outage.
        this.#down(error);
        return;
      }
      if (this.#closed) return;
      clearInterval(this.#probe);
      this.#probe = undefined;
      const wasLogged = this.#logged;
      this.#up = true;
      this.#logged = false;
      if (wasLogged) this.logger.info("Redis answers again: shared counters are used again", { redis: this.describe });
    };
    this.#probe = setInterval(() => void probe(), PROBE_MS);
    // A probe must never keep the process alive on its own.
    (this.#probe as { unref?: () => void }).unref?.();
    void probe();
  }

  /** Stops probing and closes the client (pending calls fail). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#up = false;
    clearInterval(this.#probe);
    this.#probe = undefined;
    await this.sender.close().catch(() => {});
  }
}

/** `pending`, or a RedisUnavailable once `ms` have passed (one timer, cleared when it settles). */
function within<T>(pending: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new RedisUnavailable(`Redis did not answer within ${ms} ms (cache.redis.timeout)`)), ms);
    pending.then((value) => {
      clearTimeout(timer);
      resolve(value);
    }, (error: unknown) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Errors that mean Redis is not usable (connection, timeout), as opposed to a command's own error reply. */
function isConnectionError(error: unknown): boolean {
  if (error instanceof RedisUnavailable) return true;
  const name = (error as Error)?.name ?? "";
  const message = String((error as Error)?.message ?? "");
  // Error replies from the server carry the server's message (ERR, WRONGTYPE, NOSCRIPT, BUSY...).
  if (name === "ErrorReply" || name === "SimpleError" || /^(ERR|WRONGTYPE|NOSCRIPT) /.test(message)) return false;
  return true;
}

/** Client options shared by the topologies: no offline queue, reconnection with back-off, a connect timeout. */
function socketOptions(options: RedisOptions) {
  return {
    connectTimeout: Math.max(1_000, options.timeoutMs),
    // 50 ms, doubling to MAX_RECONNECT_MS, with jitter so that replicas do not reconnect in step.
    reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, MAX_RECONNECT_MS) * (0.75 + Math.random() / 2),
  };
}

/** Makes the client of the topology, wrapped as a Sender, with a way to hear of its state changes. */
function makeSender(options: RedisOptions): {
  sender: Sender;
  describe: string;
  onState: (listener: (event: "ready" | "error", error?: unknown) => void) => void;
} {
  const { topology, password } = options;
  const listeners: ((event: "ready" | "error", error?: unknown) => void)[] = [];
  const emit = (event: "ready" | "error", error?: unknown) => listeners.forEach((l) => l(event, error));
  const onState = (listener: (event: "ready" | "error", error?: unknown) => void) => void listeners.push(listener);
  if (topology.kind === "single") {
    const parsed = new URL(topology.url);
    // A password from the settings or the file wins over one in the URL: the URL is then sent without it.
    const url = new URL(topology.url);
    const username = url.username ? decodeURIComponent(url.username) : undefined;
    if (password !== undefined) url.username = url.password = "";
    const client = createClient({
      url: url.href,
      ...(password !== undefined ? { password, ...(username ? { username } : {}) } : {}),
      disableOfflineQueue: true,
      socket: socketOptions(options),
    });
    client.on("error", (error: unknown) => emit("error", error));
    client.on("ready", () => emit("ready"));
    client.connect().catch((error: unknown) => emit("error", error));
    return {
      describe: `${parsed.protocol}//${parsed.host}`,
      onState,
      sender: {
        send: (_key, args, bytes) => client.sendCommand(wire(args), bytes ? { typeMapping: BINARY } : undefined),
        close: () => client.close(),
      },
    };
  }
  if (topology.kind === "sentinel") {
    const sentinel = createSentinel({
      name: topology.master,
      sentinelRootNodes: topology.nodes.map((n) => ({ host: n.host, port: n.port })),
      nodeClientOptions: { ...(password !== undefined ? { password } : {}), disableOfflineQueue: true, socket: socketOptions(options) },
      sentinelClientOptions: {
        ...(topology.sentinelPassword !== undefined ? { password: topology.sentinelPassword } : {}),
        socket: socketOptions(options),
      },
    });
    sentinel.on("error", (error: unknown) => emit("error", error));
    sentinel.connect().then(() => emit("ready"), (error: unknown) => emit("error", error));
    return {
      describe: `sentinel master ${topology.master}`,
      onState,
      sender: {
        send: (_key, args, bytes) => sentinel.sendCommand(false, wire(args), bytes ? { typeMapping: BINARY } : undefined),
        close: () => sentinel.close(),
      },
    };
  }
  const cluster = createCluster({
    rootNodes: topology.nodes.map((n) => ({ url: `redis://${n.host.includes(":") ? `[${n.host}]` : n.host}:${n.port}` })),
    defaults: { ...(password !== undefined ? { password } : {}), disableOfflineQueue: true, socket: socketOptions(options) },
  });
  cluster.on("error", (error: unknown) => emit("error", error));
  cluster.on("node-error", (error: unknown) => emit("error", error));
  cluster.connect().then(() => emit("ready"), (error: unknown) => emit("error", error));
  return {
    describe: `cluster ${topology.nodes.map((n) => `${n.host}:${n.port}`).join(",")}`,
    onState,
    sender: {
      send: (key, args, bytes) => cluster.sendCommand(key, false, wire(args), bytes ? { typeMapping: BINARY } : undefined),
      close: () => cluster.close(),
    },
  };
}
