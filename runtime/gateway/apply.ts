import { formatProblem, type SnapshotResult } from "../../config/snapshot/build.ts";
import type { Logger } from "../observability/log.ts";
import type { GatewayMetrics } from "../observability/metrics.ts";
import type { Pipeline, PipelineHolder } from "../pipeline/pipeline.ts";
import { describeError } from "../../config/schema/problems.ts";

/** The outcome of offering a configuration to the gateway: live, or refused with every problem. */
export type ApplyOutcome = { ok: true; pipeline: Pipeline } | { ok: false; hash: string; problems: string[] };

/** Where a configuration came from, for logs: a file, a control plane revision, a backup. */
export interface ApplyContext {
  readonly source: string;
  /** The control plane's revision number, when it has one. */
  readonly revision?: number;
  /** A control plane's view, or a backup of one (their revision is the control plane's); undefined: a local file. */
  readonly origin?: "control-plane" | "backup";
  /** At start-up a refusal is the caller's to report (it stops the gateway or tries a backup): no log. */
  readonly quiet?: boolean;
}

/**
 * The one way a configuration goes live, whatever its source: built into a snapshot already (or
 * refused with its problems), it is compiled and swapped in; a problem or a compile that throws
 * leaves the live one serving, and is counted and logged with the source, the revision and the hash.
 */
export class ConfigApplier {
  readonly #listeners: ((pipeline: Pipeline) => Promise<void>)[] = [];

  constructor(
    private readonly holder: PipelineHolder,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
  ) {}

  /** Runs `listener` after every configuration that goes live from now on (e.g. to update certificates); its failures are logged. */
  onApplied(listener: (pipeline: Pipeline) => Promise<void>): void {
    this.#listeners.push(listener);
  }

  /** Compiles and swaps in a snapshot, or reports why it cannot. Never throws. */
  async apply(result: SnapshotResult, context: ApplyContext): Promise<ApplyOutcome> {
    const outcome = await this.#compile(result, context);
    if (outcome.ok) {
      this.metrics.configApplied += 1;
      // The revision the control plane gave it (a backup keeps it); a local file has none, so the process's own count stands in.
      this.metrics.config = context.origin
        ? { revision: context.revision, hash: outcome.pipeline.hash, source: context.origin }
        : { revision: outcome.pipeline.revision, hash: outcome.pipeline.hash, source: "file" };
      this.logger.info("configuration applied", {
        source: context.source,
        revision: context.revision,
        hash: outcome.pipeline.hash,
        apis: outcome.pipeline.snapshot.apis.length,
        local: outcome.pipeline.revision,
      });
      for (const backend of outcome.pipeline.backends.values()) {
        if (backend.tls && !backend.tls.verify) {
          this.logger.warn("TLS verification is off for a backend (tls.verify: false): its identity is not checked", { backend: backend.name });
        }
      }
      for (const listener of this.#listeners) {
        await listener(outcome.pipeline).catch((error: unknown) =>
          this.logger.error("applying the configuration to a listener failed", { error: describeError(error) })
        );
      }
      return outcome;
    }
    this.metrics.configRejected += 1;
    if (!context.quiet) {
      this.logger.error("configuration rejected; the last good configuration keeps serving", {
        source: context.source,
        revision: context.revision,
        hash: outcome.hash,
        live: this.holder.current?.hash,
        problems: outcome.problems,
      });
    }
    return outcome;
  }

  async #compile(result: SnapshotResult, context: ApplyContext): Promise<ApplyOutcome> {
    if (!result.ok) return { ok: false, hash: result.hash, problems: result.problems.map(formatProblem) };
    try {
      return { ok: true, pipeline: await this.holder.apply(result.snapshot, context.origin ? context.revision : undefined) };
    } catch (error) {
      // A compile that throws never goes live; its message is the one problem we know of.
      return { ok: false, hash: result.snapshot.hash, problems: [`compile failed: ${describeError(error)}`] };
    }
  }
}
