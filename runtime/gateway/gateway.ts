import { readFileSync } from "node:fs";
import { BackupStore } from "../../config/backup.ts";
import { redisConfigured, type SettingKey, type Settings } from "../../config/schema/settings.ts";
import { ControlPlaneClient, plainHttpEndpoint } from "../../config/source/control-plane.ts";
import { type FileWatch, readConfigFile, watchConfigFile } from "../../config/source/file.ts";
import { type Logger, type StdLogger, withLogSink } from "../observability/log.ts";
import { GatewayMetrics } from "../observability/metrics.ts";
import { TrafficSummary } from "../observability/summary.ts";
import { createGatewayMeter } from "../observability/meter.ts";
import { PipelineHolder } from "../pipeline/pipeline.ts";
import { upstreamProbe } from "../pipeline/health.ts";
import { BodyGuard } from "../http/body-guard.ts";
import { TrustedProxies } from "../http/forwarded.ts";
import type { ProxyProtocolOptions } from "../server/proxy-protocol.ts";
import type { Http2Limits } from "../server/http2.ts";
import type { ConnectionTimeouts, FetchHandler, RunningServer, ServerAdapter } from "../server/adapter.ts";
import { BodyBuffers } from "../policy/body.ts";
import { MemoryStateStore, type PolicyStateStore } from "../policy/state.ts";
import { MemoryKV } from "../cache/memory-kv.ts";
import type { CacheStores } from "../cache/stores.ts";
import type { KV } from "../state/kv.ts";
import { ConfigApplier } from "./apply.ts";
import { managementApp } from "./management.ts";
import { HttpsListener } from "./https-listener.ts";
import { ControlPlaneSync } from "./sync.ts";
import { resolveClientTls, resolveServerTls } from "../tls/limits.ts";
import { trafficApp } from "./traffic.ts";
import type { GrpcListener } from "../grpc/listener.ts";
import { backendTlsOptions, takingWebSockets, WebSocketConnections } from "../websocket/connections.ts";
import { withHttp2 } from "../upstream/client.ts";
import { redactingLogger } from "../observability/redact.ts";
import { type Env, Telemetry } from "../observability/telemetry.ts";
import type { OtlpEvent } from "../observability/otlp/exporters.ts";
import { describeError } from "../../config/schema/problems.ts";
import type { SharedState } from "../state/open.ts";
import { type EgressProxy, PROXY_VARIABLES, resolveEgressProxy } from "../upstream/egress-proxy.ts";

/** A configuration problem that stops a gateway from starting; every problem is listed. */
export class StartupError extends Error {
  constructor(
    message: string,
    readonly problems: readonly string[] = [],
  ) {
    super(message);
    this.name = "StartupError";
  }
}

/** How to run a gateway. */
export interface GatewayOptions {
  readonly settings: Settings;
  readonly adapter: ServerAdapter;
  readonly logger: Logger;
  /** Standalone mode: a local configuration file, watched and hot-swapped. Else the control plane in the settings. */
  readonly configFile?: string;
  /** The gateway's name as the control plane knows it (from the settings, or the token). */
  readonly name?: string;
  /** Version reported in heartbeats. */
  readonly version?: string;
  /** Settings given explicitly rather than by default (they win over `OTEL_*` variables); none when undefined. */
  readonly given?: ReadonlySet<SettingKey>;
  /** The environment the standard `OTEL_*` variables are read from (default: the process's). */
  readonly env?: Env;
}

/** A running gateway. */
export interface Gateway {
  readonly holder: PipelineHolder;
  readonly trafficPort: number | undefined;
  readonly managementPort: number | undefined;
  /** Stops watching and listening; in-flight requests finish first. */
  close(): Promise<void>;
}

/** Where configurations come from: the first one (or a StartupError), then changes until stopped. */
interface ConfigFeed {
  start(): Promise<void>;
  run(): void;
  stop(): void;
}

/** Standalone: a local file, read at start (any problem stops the gateway) and watched with the files it names. */
function fileFeed(configFile: string, holder: PipelineHolder, applier: ConfigApplier, logger: Logger): ConfigFeed {
  let watch: FileWatch | undefined;
  return {
    async start() {
      const outcome = await applier.apply(readConfigFile(configFile), { source: configFile, quiet: true });
      if (!outcome.ok) throw new StartupError(`configuration ${configFile} is invalid`, outcome.problems);
    },
    run() {
      // Changes apply one at a time, in the order they were read, so an older file never wins.
      let applying = Promise.resolve();
      watch = watchConfigFile(
        configFile,
        holder.current!.hash,
        (result) => {
          applying = applying
            .then(async () => void (await applier.apply(result, { source: configFile })))
            .catch((error: unknown) => logger.error("configuration change failed", { error: describeError(error) }));
        },
        200,
        () => holder.current?.snapshot.files ?? [],
      );
    },
    stop: () => watch?.stop(),
  };
}

/** Control-plane mode: pulls, heartbeats, backups (see ControlPlaneSync). */
function controlPlaneFeed(
  options: GatewayOptions,
  applier: ConfigApplier,
  metrics: GatewayMetrics,
  summary: TrafficSummary,
  proxy: EgressProxy | undefined,
): ConfigFeed {
  const { settings, adapter, logger } = options;
  const endpoint = settings["config.service.endpoint"]!;
  const token = settings["config.service.auth"];
  if (!token) throw new StartupError("config.service.endpoint is set but config.service.auth (the gateway token) is not");
  const exposed = plainHttpEndpoint(endpoint);
  if (exposed) {
    logger.warn(
      "config.service.endpoint is plain HTTP to a host that is not loopback: the gateway token and the TLS keys in its configuration cross the network unencrypted; use an https:// endpoint",
      { endpoint: exposed },
    );
  }
  const syncIntervalMs = settings["config.sync.interval"];
  const caFile = settings["config.service.ca"];
  let ca: string | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile, "utf8");
    } catch (error) {
      throw new StartupError(`config.service.ca: cannot read ${caFile}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`);
    }
  }
  const client = new ControlPlaneClient({
    endpoint,
    gateway: options.name ?? settings["gateway.name"],
    token,
    timeoutMs: Math.min(Math.max(syncIntervalMs, 1_000), 10_000),
    fetch: adapter.createFetch({ ca, proxy }),
  });
  const sync = new ControlPlaneSync({
    client,
    applier,
    backup: settings["config.backup.enabled"] ? new BackupStore(settings["config.backup.path"]) : undefined,
    logger,
    metrics,
    syncIntervalMs,
    heartbeatIntervalMs: settings["config.heartbeat.interval"],
    version: options.version ?? "dev",
    runtime: `${adapter.runtime} ${adapter.version}`,
    summary,
  });
  return {
    async start() {
      try {
        await sync.start();
      } catch (error) {
        throw new StartupError(describeError(error));
      }
    },
    run: () => sync.run(),
    stop: () => sync.stop(),
  };
}

/**
 * Starts a gateway: gets a first configuration (from the file in standalone mode, else from the
 * control plane or the backup), refusing to start without one; opens the traffic and management
 * listeners; then follows changes. Valid changes are swapped in; invalid ones are reported with
 * every problem while the last good configuration keeps serving.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { settings, adapter, configFile } = options;
  const proxy = egressProxy(settings, options.env);
  // Every line the gateway writes from here on has the live configuration's secret named values redacted.
  const live: { holder?: PipelineHolder } = {};
  const made = await Telemetry.create({
    settings,
    given: options.given ?? new Set(),
    env: options.env ?? process.env,
    version: options.version ?? "dev",
    runtime: `${adapter.runtime} ${adapter.version}`,
    gateway: options.name ?? settings["gateway.name"],
    onExportEvent: (event) => exportEvents(event),
    fetch: adapter.createFetch({ proxy }),
  });
  if (made.problems) throw new StartupError("telemetry settings cannot be honoured", made.problems);
  const telemetry = made.telemetry;
  const logger = redactingLogger(withLogSink(options.logger, telemetry.otlpLogSink), () => live.holder?.current?.snapshot.secrets);
  const exportEvents = otlpEventLog(logger);
  // One meter for every metric: `/metrics` (Prometheus) and OTLP read the same instruments and producers.
  const meter = createGatewayMeter(settings, {
    resource: telemetry.resource,
    version: options.version,
    producers: [telemetry.requests],
    readers: (producer) => telemetry.otlpMetricReaders(settings, producer),
  });
  const metrics = new GatewayMetrics(meter.meter, {
    version: options.version ?? "dev",
    runtime: { name: adapter.runtime, version: adapter.version },
    system: settings["telemetry.metrics.system.enabled"],
  });
  meter.addProducer(metrics.producer);
  const std = options.logger as Partial<Pick<StdLogger, "droppedLines">>;
  if (typeof std.droppedLines === "number") metrics.bounds.logs = std as Pick<StdLogger, "droppedLines">;
  /** Stops the metrics, then flushes every signal (the last metrics export included) before the exporters stop. */
  const stopTelemetry = async () => {
    metrics.close();
    await meter.shutdown();
    await telemetry.shutdown();
  };
  // With Redis (cache.redis.*), rate-limits, quotas and concurrency limits count there; it connects in the background.
  // The Redis client is loaded only then (it alone is about 35 MB of an idle gateway's memory).
  let shared: SharedState | undefined;
  try {
    shared = redisConfigured(settings) ? await (await import("../state/open.ts")).openSharedState(settings, logger) : undefined;
  } catch (error) {
    await stopTelemetry();
    throw new StartupError(describeError(error));
  }
  const redis = shared?.redis;
  const counters = shared?.counters;
  if (redis && counters) metrics.bounds.redis = { connection: redis, counters };
  // Built-ins run on the host (validate-jwt, the cache policies) fetch with the gateway's own fetch, log and count here,
  // and cache in the process's one internal store (entries survive reloads) or, with Redis, in Redis too (caching-type).
  const cache = cacheStores(settings, shared?.kv);
  metrics.bounds.cache = cache.internal;
  const holder = new PipelineHolder({ fetch: adapter.createFetch({ proxy }), logger, metrics, cache }, counters && { counters, logger });
  live.holder = holder;
  const applier = new ConfigApplier(holder, metrics, logger);
  const { tls, clientTls } = tlsForRuntime(settings, adapter, logger);
  const timeouts = timeoutsForRuntime(settings, adapter);
  const { state, buffers } = boundState(settings, holder, metrics);
  // Counted only for a control plane's heartbeats: a standalone gateway has nobody to report to.
  const summary = configFile ? undefined : new TrafficSummary();
  const feed = summary ? controlPlaneFeed({ ...options, logger }, applier, metrics, summary, proxy) : fileFeed(configFile!, holder, applier, logger);
  try {
    await feed.start();
  } catch (error) {
    await redis?.close();
    await stopTelemetry();
    throw error;
  }
  const backendTls = backendTlsOptions(clientTls.limits, adapter.capabilities.upstreamTls.restrictTls13Suites);
  const upstream = withHttp2(
    adapter.createUpstreamClient(clientTls.limits, { maxPools: settings["net.client.tls.max-pools"], proxy }),
    async () => (await import("../upstream/http2.ts")).http2Upstream({ tls: backendTls, proxy }),
  );
  metrics.bounds.upstreamPools = upstream.pools;
  holder.health.start(upstreamProbe(upstream));
  metrics.bounds.members = holder.health;
  const servers: RunningServer[] = [];
  const bodies = new BodyGuard({
    idleMs: settings["net.server.timeouts.body-idle"],
    minRate: settings["net.server.body.min-rate"],
    minRateGraceMs: settings["net.server.body.min-rate-grace"],
    totalMs: settings["net.server.timeouts.request"],
  });
  metrics.bounds.gates = holder.gates;
  metrics.bounds.breakers = holder.breakers;
  metrics.bounds.bodyTimeouts = bodies.timeouts;
  const trusted = trustedProxies(settings);
  const websockets = new WebSocketConnections(settings["net.server.websocket.idle-timeout"], settings["net.server.websocket.max-message-bytes"], {
    tls: backendTls,
    proxy,
  });
  metrics.bounds.websockets = websockets;
  const trafficDeps = {
    holder,
    adapter,
    upstream,
    logger,
    metrics,
    telemetry,
    bodies,
    buffers,
    state,
    keepAliveMs: timeouts.keepAliveMs,
    separators: settings["net.server.path.encoded-separators"],
    summary,
    trustedProxies: trusted,
    websockets,
  };
  // PROXY protocol on the plain HTTP listener: only trusted proxies may connect (settings.ts checks there are some).
  const proxyProtocol = settings["net.server.http.proxy-protocol"] && trusted
    ? { trusts: (address: string) => trusted.trustsAddress(address), timeoutMs: timeouts.headerMs }
    : undefined;
  const http2 = http2ForRuntime(settings, adapter);
  let https: HttpsListener | undefined;
  let grpc: GrpcListener | undefined;
  try {
    const httpPort = settings["net.server.http.port"];
    const traffic = httpPort
      ? await listen(
        adapter,
        httpPort,
        settings["net.server.bind-address"],
        takingWebSockets(trafficApp({ ...trafficDeps, proto: "http" }), websockets),
        timeouts,
        proxyProtocol,
        settings["net.server.http2.cleartext"] ? http2 : undefined,
      )
      : undefined;
    if (traffic) servers.push(traffic);
    const httpsPort = settings["net.server.https.port"];
    if (httpsPort) {
      const handler = takingWebSockets(trafficApp({ ...trafficDeps, proto: "https" }), websockets);
      https = new HttpsListener(
        adapter,
        httpsPort,
        settings["net.server.bind-address"],
        handler,
        tls.limits,
        timeouts,
        logger,
        settings["net.server.http2.enabled"] ? http2 : undefined,
        settings["net.server.http2.enabled"] && adapter.capabilities.http2ServerUnavailable
          ? `HTTP/2 is not offered to clients on ${adapter.runtime} ${adapter.version}: the TLS listener serves HTTP/1.1 only (docs/protocols.md#deno)`
          : undefined,
      );
      try {
        await https.update(holder.current!.certificates);
      } catch (error) {
        throw new StartupError(`cannot listen on ${settings["net.server.bind-address"]}:${httpsPort} (HTTPS): ${listenReason(error)}`);
      }
      const listener = https;
      applier.onApplied((pipeline) => listener.update(pipeline.certificates));
    }
    const grpcPort = settings["net.server.grpc.port"];
    if (grpcPort) {
      // Loaded only when the listener is on: a gateway without gRPC does not load node:http2.
      const [{ GrpcListener }, { UpstreamSessions }] = await Promise.all([import("../grpc/listener.ts"), import("../grpc/sessions.ts")]);
      const grpcDeps = {
        holder,
        reporting: { logger, metrics, bodies: buffers },
        logger,
        telemetry,
        state,
        sessions: new UpstreamSessions(),
        trustedProxies: trusted,
        summary,
      };
      if (proxy) {
        logger.warn(
          "gRPC calls connect to their backends directly: the egress proxy (net.client.proxy.*, HTTP(S)_PROXY) is not used for them (docs/protocols.md)",
        );
      }
      try {
        grpc = await GrpcListener.start(grpcPort, settings["net.server.bind-address"], grpcDeps, {
          firstBytesMs: timeouts.headerMs,
          idleMs: timeouts.keepAliveMs,
        });
      } catch (error) {
        throw new StartupError(`cannot listen on ${settings["net.server.bind-address"]}:${grpcPort} (gRPC): ${listenReason(error)}`);
      }
    }
    const managementPort = settings["net.management.port"];
    const management = managementPort
      ? await listen(
        adapter,
        managementPort,
        settings["net.management.bind-address"],
        managementApp({ holder, prometheus: meter.prometheus, redis }).fetch,
        timeouts,
      )
      : undefined;
    if (management) servers.push(management);
    feed.run();
    logger.info("gateway started", {
      runtime: `${adapter.runtime} ${adapter.version}`,
      name: options.name ?? settings["gateway.name"],
      mode: configFile ? "standalone" : "control plane",
      http: traffic?.port,
      https: https?.boundPort,
      grpc: grpc?.port,
      management: management?.port,
      ...(proxy ? { egressProxy: proxy.describe() } : {}),
    });
    return {
      holder,
      trafficPort: traffic?.port,
      managementPort: management?.port,
      async close() {
        feed.stop();
        holder.health.close();
        const closing = Promise.all([...servers.map((s) => s.close()), https?.close(), grpc?.close()]);
        // Once the requests in flight are done, open WebSockets (which have no end of their own) are closed with 1001.
        await holder.current?.drained();
        websockets.closeAll(1001, "gateway shutting down");
        await closing;
        bodies.close();
        await upstream.close();
        await redis?.close();
        await stopTelemetry();
      },
    };
  } catch (error) {
    feed.stop();
    holder.health.close();
    await Promise.all([...servers.map((s) => s.close(true)), https?.close(true), grpc?.close(true)]);
    await upstream.close();
    await redis?.close();
    await stopTelemetry();
    throw error;
  }
}

/** The proxies whose forwarding headers name the client; undefined when none is trusted, so requests pay nothing for it. */
function trustedProxies(settings: Settings): TrustedProxies | undefined {
  const ranges = settings["net.server.http.forwarded.trusted-proxies"];
  if (ranges.length === 0) return undefined;
  return new TrustedProxies({ trustedProxies: ranges, proto: settings["net.server.http.forwarded.proto.enabled"] });
}

/**
 * The egress proxy decision (net.client.proxy.*, else HTTP_PROXY, HTTPS_PROXY, NO_PROXY), made once.
 * Read from the process's environment, the variables are then taken out of it: the decision is the
 * only one, and Bun's fetch would otherwise apply its own reading of them on every call (its
 * NO_PROXY handling even overrides an explicit proxy).
 */
function egressProxy(settings: Settings, env: Env | undefined): EgressProxy | undefined {
  const resolved = resolveEgressProxy(settings, env ?? process.env);
  if (!resolved.ok) throw new StartupError("egress proxy settings are invalid", resolved.problems);
  if (!env) { for (const name of Object.values(PROXY_VARIABLES).flat()) delete process.env[name]; }
  return resolved.proxy;
}

/**
 * Logs what happens to OTLP batches without flooding: one warning when the collector stops taking
 * them (they go to the spool), one line when spooled batches are delivered again, every loss.
 */
function otlpEventLog(logger: Logger): (event: OtlpEvent) => void {
  let spooling = false;
  return (event) => {
    if (event.type === "spooled" && !spooling) {
      spooling = true;
      logger.warn("the OTLP endpoint is not taking telemetry; batches are spooled to disk until it does", { signal: event.signal, reason: event.reason });
    } else if (event.type === "replayed" && spooling) {
      spooling = false;
      logger.info("the OTLP endpoint takes telemetry again; spooled batches are being delivered", { signal: event.signal });
    } else if (event.type === "dropped") {
      logger.warn("OTLP telemetry batches dropped", { signal: event.signal, batches: event.batches, reason: event.reason });
    }
  };
}

/**
 * The stores of the cache policies: the in-process one within cache.internal.max-bytes, and the
 * external one when the gateway has one (`external`: the Redis KV once `cache.redis.url` is read;
 * `caching-type: external` needs it, `prefer-external` uses it when it is there).
 */
function cacheStores(settings: Settings, external?: KV): CacheStores & { readonly internal: MemoryKV } {
  const internal = new MemoryKV(settings["cache.internal.max-bytes"]);
  return { internal, external, maxEntryBytes: settings["cache.entry.max-bytes"] };
}

/**
 * Sets up what bounds the state clients can make the gateway hold (see docs/limits.md): the
 * gateway's policy state store within policy.state.max-bytes (one for the process's life, so
 * counters survive configuration swaps) and the cap on bodies buffered for policies, both for the
 * traffic listeners, and the metrics that report them and the module cache.
 */
function boundState(settings: Settings, holder: PipelineHolder, metrics: GatewayMetrics): { state: PolicyStateStore; buffers: BodyBuffers } {
  const state = new MemoryStateStore({ maxBytes: settings["policy.state.max-bytes"] });
  const buffers = new BodyBuffers(settings["policy.body.max-buffered"]);
  metrics.bounds.state = state;
  metrics.bounds.modules = holder.modules;
  metrics.bounds.bodies = buffers;
  metrics.bounds.policyMemory = async () => await holder.current?.steps.memory();
  return { state, buffers };
}

/**
 * The TLS limits of the listener and of backend connections, resolved against what this runtime
 * can honour: a setting it cannot honour stops the gateway before anything else, never silently.
 */
function tlsForRuntime(settings: Settings, adapter: ServerAdapter, logger: Logger) {
  const runtime = `${adapter.runtime} ${adapter.version}`;
  const tls = resolveServerTls(settings, adapter.capabilities.tls, runtime);
  if (!tls.ok) throw new StartupError("TLS settings cannot be honoured on this runtime", tls.problems);
  const clientTls = resolveClientTls(settings, adapter.capabilities.upstreamTls, runtime);
  if (!clientTls.ok) throw new StartupError("TLS settings cannot be honoured on this runtime", clientTls.problems);
  for (const note of [...tls.notes, ...clientTls.notes]) logger.warn(note);
  return { tls, clientTls };
}

/**
 * The connection timeouts from the settings, checked against what this runtime's listener can
 * honour: Bun.serve enforces its own request-head timeout, so a different value stops the gateway
 * rather than being ignored, and its idle timeout cannot pass 255 s.
 */
function timeoutsForRuntime(settings: Settings, adapter: ServerAdapter): ConnectionTimeouts {
  const runtime = `${adapter.runtime} ${adapter.version}`;
  const headerMs = settings["net.server.timeouts.header"];
  const keepAliveMs = settings["net.server.timeouts.keep-alive"];
  const problems: string[] = [];
  const header = adapter.capabilities.headerTimeout;
  if (header.kind === "fixed" && headerMs !== DEFAULT_HEADER_TIMEOUT_MS) {
    problems.push(
      `net.server.timeouts.header: ${runtime} closes a connection whose request head is incomplete after ${header.minMs / 1000} to ${
        header.maxMs / 1000
      } s and has no setting for it; leave this setting at its default (10s) on this runtime (got ${headerMs} ms)`,
    );
  }
  if (keepAliveMs > adapter.capabilities.maxKeepAliveMs) {
    problems.push(`net.server.timeouts.keep-alive: at most ${adapter.capabilities.maxKeepAliveMs / 1000} s on ${runtime} (got ${keepAliveMs / 1000} s)`);
  }
  if (problems.length) throw new StartupError("connection timeouts cannot be honoured on this runtime", problems);
  return { headerMs, keepAliveMs };
}

/**
 * The HTTP/2 limits from the settings (net.server.http2.*), checked against what this runtime's
 * plain listener can honour when h2c is on: Bun.serve serves h2c with fixed limits only. Undefined
 * where the runtime cannot serve HTTP/2 safely (Deno), and there h2c stops the start.
 */
function http2ForRuntime(settings: Settings, adapter: ServerAdapter): Http2Limits | undefined {
  const unavailable = adapter.capabilities.http2ServerUnavailable;
  if (unavailable) {
    if (settings["net.server.http2.cleartext"]) {
      throw new StartupError("HTTP/2 cannot be served on this runtime", [
        `net.server.http2.cleartext: not on ${adapter.runtime} ${adapter.version}: ${unavailable} (docs/protocols.md#deno); run the gateway on Bun or Node for h2c`,
      ]);
    }
    return undefined;
  }
  const limits = {
    maxConcurrentStreams: settings["net.server.http2.max-concurrent-streams"],
    maxHeaderListSize: settings["net.server.http2.max-header-list-size"],
  };
  const fixed = adapter.capabilities.plainHttp2Limits;
  if (settings["net.server.http2.cleartext"] && fixed) {
    const problems: string[] = [];
    if (limits.maxConcurrentStreams !== fixed.maxConcurrentStreams) {
      problems.push(
        `net.server.http2.max-concurrent-streams: h2c on ${adapter.runtime} ${adapter.version} allows ${fixed.maxConcurrentStreams} streams and has no setting for it; leave the default with net.server.http2.cleartext on (got ${limits.maxConcurrentStreams})`,
      );
    }
    if (limits.maxHeaderListSize !== fixed.maxHeaderListSize) {
      problems.push(
        `net.server.http2.max-header-list-size: h2c on ${adapter.runtime} ${adapter.version} takes ${fixed.maxHeaderListSize} bytes and has no setting for it; leave the default with net.server.http2.cleartext on (got ${limits.maxHeaderListSize})`,
      );
    }
    if (problems.length) throw new StartupError("HTTP/2 limits cannot be honoured on this runtime's plain listener", problems);
  }
  return limits;
}

/** The default of `net.server.timeouts.header`, the one value a runtime with a fixed head timeout accepts. */
const DEFAULT_HEADER_TIMEOUT_MS = 10_000;

/** Opens a listener, turning the runtime's failure (port taken, no permission) into a one-line StartupError. */
async function listen(
  adapter: ServerAdapter,
  port: number,
  hostname: string,
  handler: FetchHandler,
  timeouts: ConnectionTimeouts,
  proxyProtocol?: ProxyProtocolOptions,
  http2?: Http2Limits,
): Promise<RunningServer> {
  try {
    return await adapter.listen({ port, hostname, handler, timeouts, proxyProtocol, http2 });
  } catch (error) {
    throw new StartupError(`cannot listen on ${hostname}:${port}: ${listenReason(error)}`);
  }
}

/** A runtime's listen failure in a few words: port taken, no permission, or its own message. */
export function listenReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE" || /in use/i.test(String(error))) return "address already in use";
  if (code === "EACCES") return "permission denied";
  return String((error as Error).message ?? error);
}
