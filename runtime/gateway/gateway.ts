import { dirname } from "node:path";
import { formatProblem } from "../../config/schema/problems.ts";
import type { Settings } from "../../config/schema/settings.ts";
import { readConfigFile, watchConfigFile, type FileWatch } from "../../config/source/file.ts";
import type { LoadResult } from "../../config/load.ts";
import type { Logger } from "../observability/log.ts";
import { GatewayMetrics } from "../observability/metrics.ts";
import { PipelineHolder, type Pipeline } from "../pipeline/pipeline.ts";
import type { FetchHandler, RunningServer, ServerAdapter } from "../server/adapter.ts";
import { managementApp } from "./management.ts";
import { trafficApp } from "./traffic.ts";

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
  /** Standalone mode: a local configuration file, watched and hot-swapped. */
  readonly configFile: string;
}

/** A running gateway. */
export interface Gateway {
  readonly holder: PipelineHolder;
  readonly trafficPort: number | undefined;
  readonly managementPort: number | undefined;
  /** Stops watching and listening; in-flight requests finish first. */
  close(): Promise<void>;
}

/**
 * Starts a standalone gateway: loads the configuration (refusing to start on any problem), opens
 * the traffic and management listeners, and applies valid changes to the file as they happen while
 * invalid ones are logged with every problem and the last good configuration keeps serving.
 */
export async function startGateway({ settings, adapter, logger, configFile }: GatewayOptions): Promise<Gateway> {
  const holder = new PipelineHolder();
  const metrics = new GatewayMetrics();

  const reject = (hash: string, problems: string[], initial: boolean) => {
    metrics.configRejected += 1;
    if (initial) throw new StartupError(`configuration ${configFile} is invalid`, problems);
    logger.error("configuration rejected; the last good configuration keeps serving", {
      file: configFile,
      hash,
      liveRevision: holder.current?.revision,
      problems,
    });
  };

  const apply = async (result: LoadResult, initial: boolean) => {
    if (!result.ok) return reject(result.hash, result.problems.map(formatProblem), initial);
    let pipeline: Pipeline;
    try {
      pipeline = await holder.apply(result.config, result.hash, { baseDir: dirname(configFile) });
    } catch (error) {
      // A compile that throws never goes live; the message is the one problem we know of.
      return reject(result.hash, [`compile failed: ${error instanceof Error ? error.message : String(error)}`], initial);
    }
    metrics.configApplied += 1;
    metrics.configRevision = pipeline.revision;
    logger.info("configuration applied", { file: configFile, revision: pipeline.revision, hash: result.hash, apis: result.config.apis.length });
  };

  await apply(readConfigFile(configFile), true);
  // Changes apply one at a time, in the order they were read, so an older file never wins.
  let applying = Promise.resolve();
  const upstream = adapter.createUpstreamClient();
  const servers: RunningServer[] = [];
  let watch: FileWatch | undefined;
  try {
    const httpPort = settings["net.server.http.port"];
    const traffic = httpPort
      ? await listen(adapter, httpPort, settings["net.server.bind-address"], trafficApp({ holder, adapter, upstream, logger, metrics, proto: "http" }).fetch)
      : undefined;
    if (traffic) servers.push(traffic);
    const managementPort = settings["net.management.port"];
    const management = managementPort
      ? await listen(
          adapter,
          managementPort,
          settings["net.management.bind-address"],
          managementApp({ holder, metrics, prometheus: settings["telemetry.metrics.prometheus.enabled"] }).fetch,
        )
      : undefined;
    if (management) servers.push(management);
    watch = watchConfigFile(configFile, holder.current!.hash, (result) => {
      applying = applying
        .then(() => apply(result, false))
        .catch((error: unknown) => logger.error("configuration change failed", { error: error instanceof Error ? error.message : String(error) }));
    });
    logger.info("gateway started", {
      runtime: `${adapter.runtime} ${adapter.version}`,
      name: settings["gateway.name"],
      http: traffic?.port,
      management: management?.port,
    });
    return {
      holder,
      trafficPort: traffic?.port,
      managementPort: management?.port,
      async close() {
        watch?.stop();
        await Promise.all(servers.map((s) => s.close()));
        await upstream.close();
      },
    };
  } catch (error) {
    watch?.stop();
    await Promise.all(servers.map((s) => s.close(true)));
    await upstream.close();
    throw error;
  }
}

/** Opens a listener, turning the runtime's failure (port taken, no permission) into a one-line StartupError. */
async function listen(adapter: ServerAdapter, port: number, hostname: string, handler: FetchHandler): Promise<RunningServer> {
  try {
    return await adapter.listen({ port, hostname, handler });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "EADDRINUSE" || /in use/i.test(String(error)) ? "address already in use" : code === "EACCES" ? "permission denied" : String((error as Error).message ?? error);
    throw new StartupError(`cannot listen on ${hostname}:${port}: ${reason}`);
  }
}
