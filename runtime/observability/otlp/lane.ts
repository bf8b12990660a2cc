// One signal's way to the collector: the transport the OpenTelemetry export delegate calls with a
// serialized batch. It POSTs the batch, or, when the collector is away (or batches of this signal
// are already waiting), appends it to the disk spool; a replayer sends spooled batches oldest
// first once the collector answers again.

import type { ExportResponse, IExporterTransport } from "@opentelemetry/otlp-exporter-base";
import { clearTimeout, setTimeout } from "node:timers";
import type { DiskSpool, SpoolEncoding, SpoolEntry } from "./spool.ts";
import { CONTENT_TYPES, type OtlpSignal, postOtlp, type PostOutcome } from "./transport.ts";

/**
 * What the exporters report, for logs and metrics. Counts and reasons only: never a header value,
 * never a batch's content. `spooled`: a batch went to disk instead of the collector (`reason`:
 * why: the failure, or that older batches are waiting). `replayed`: spooled batches were delivered.
 * `dropped`: batches are lost (evicted from a full spool, refused by the collector with a 4xx,
 * larger than the spool, not writable, or no spool configured). `failed`: a POST failed and will
 * be retried from the spool (`spooled: true`) or was not (`spooled: false`).
 */
export type OtlpEvent =
  | { type: "spooled"; signal: OtlpSignal; batches: number; bytes: number; reason: string }
  | { type: "replayed"; signal: OtlpSignal; batches: number; bytes: number }
  | { type: "dropped"; signal: OtlpSignal; batches: number; bytes: number; reason: string }
  | { type: "failed"; signal: OtlpSignal; reason: string; spooled: boolean };

/** Counters shared by the lanes of one exporter set; see `createOtlpExporters().stats()`. */
export interface LaneCounters {
  dropped: number;
  replayed: number;
  failures: number;
}

/** How long the replayer waits after a failed attempt: from `minMs`, doubling up to `maxMs`. */
export interface ReplayBackoff {
  minMs: number;
  maxMs: number;
}

/** Everything a lane needs; `spool` undefined means failed batches are dropped (and counted). */
export interface LaneOptions {
  signal: OtlpSignal;
  url: string;
  encoding: SpoolEncoding;
  headers: Record<string, string>;
  timeoutMs: number;
  fetch: typeof fetch;
  spool: DiskSpool | undefined;
  backoff: ReplayBackoff;
  counters: LaneCounters;
  emit: (event: OtlpEvent) => void;
}

/**
 * The transport of one signal. Batches of a signal are handled one at a time, in the order the
 * SDK hands them over, so a batch never overtakes an earlier one on its way to the spool.
 * `shutdown()` of the transport (called when a provider shuts its exporter down) does nothing:
 * the spool and its replayer belong to the exporter set and stop with `close()`.
 */
export class SignalLane implements IExporterTransport {
  private tail: Promise<unknown>;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private replaying: Promise<void> | undefined;
  private delay: number;
  private closed = false;

  constructor(private readonly options: LaneOptions) {
    this.delay = options.backoff.minMs;
    const spool = options.spool;
    this.tail = spool === undefined ? Promise.resolve() : spool.ready.then(() => {
      // Batches left by an earlier process: send them as soon as the collector answers.
      if (spool.count(options.signal) > 0) this.schedule(0);
    });
  }

  /** Sends (or spools) one serialized batch; the SDK's delegate calls this. */
  send(data: Uint8Array, _timeoutMillis: number): Promise<ExportResponse> {
    if (this.closed) return Promise.resolve({ status: "failure", error: new Error("OTLP exporter is shut down") });
    if (this.options.spool === undefined) return this.sendUnspooled(data);
    const result = this.tail.then(() => this.sendOrSpool(data));
    this.tail = result.catch(() => {});
    return result;
  }

  /** Part of the SDK's transport interface; the exporter set's `close()` stops the lane instead. */
  shutdown(): void {}

  /** Stops the replayer and waits for the batch being handled and a replay attempt in flight. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.tail;
    await this.replaying;
  }

  private post(body: Uint8Array, encoding: SpoolEncoding): Promise<PostOutcome> {
    const { url, headers, timeoutMs, fetch } = this.options;
    return postOtlp({ url, headers, timeoutMs, fetch, contentType: CONTENT_TYPES[encoding] }, body);
  }

  private async sendUnspooled(data: Uint8Array): Promise<ExportResponse> {
    const { signal, counters, emit } = this.options;
    const outcome = await this.post(data, this.options.encoding);
    if (outcome.kind === "ok") return { status: "success", data: outcome.body };
    counters.failures++;
    counters.dropped++;
    emit({ type: "failed", signal, reason: outcome.reason, spooled: false });
    emit({ type: "dropped", signal, batches: 1, bytes: data.length, reason: `no spool; ${outcome.reason}` });
    return { status: "failure", error: new Error(`OTLP export failed: ${outcome.reason}`) };
  }

  private async sendOrSpool(data: Uint8Array): Promise<ExportResponse> {
    const { signal, counters, emit } = this.options;
    const spool = this.options.spool!;
    if (spool.count(signal) > 0) return this.spool(data, "older batches are waiting in the spool");
    const outcome = await this.post(data, this.options.encoding);
    if (outcome.kind === "ok") return { status: "success", data: outcome.body };
    counters.failures++;
    if (outcome.kind === "reject") {
      counters.dropped++;
      emit({ type: "failed", signal, reason: outcome.reason, spooled: false });
      emit({ type: "dropped", signal, batches: 1, bytes: data.length, reason: `refused: ${outcome.reason}` });
      return { status: "failure", error: new Error(`OTLP export refused: ${outcome.reason}`) };
    }
    emit({ type: "failed", signal, reason: outcome.reason, spooled: true });
    const response = await this.spool(data, outcome.reason);
    if (outcome.retryAfterMs !== undefined) this.delay = Math.max(this.delay, Math.min(outcome.retryAfterMs, this.options.backoff.maxMs));
    return response;
  }

  private async spool(data: Uint8Array, reason: string): Promise<ExportResponse> {
    const { signal, counters, emit, encoding } = this.options;
    const entry = this.options.spool!.append(signal, encoding, data);
    if (typeof entry === "string") {
      counters.dropped++;
      emit({ type: "dropped", signal, batches: 1, bytes: data.length, reason: entry });
      return { status: "failure", error: new Error(`OTLP batch dropped: ${entry}`) };
    }
    // Wait for the file so that a batch reported as kept is on disk; the spool reports a failed write.
    if (!(await entry.written)) return { status: "failure", error: new Error("OTLP batch dropped: spool write failed") };
    emit({ type: "spooled", signal, batches: 1, bytes: data.length, reason });
    this.schedule(this.delay);
    return { status: "success" };
  }

  private schedule(ms: number): void {
    if (this.closed || this.timer !== undefined || this.replaying !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.replaying = this.replay().then((retryIn) => {
        this.replaying = undefined;
        if (retryIn !== undefined) this.schedule(retryIn);
        // A batch spooled while the last attempt was finishing.
        else if (this.options.spool!.count(this.options.signal) > 0) this.schedule(0);
      });
    }, ms);
    // A replay pending must never keep a process alive.
    this.timer.unref();
  }

  /**
   * Sends spooled batches oldest first until the spool is empty or an attempt fails; returns when
   * to try again after a failure (undefined: the spool is empty or the lane closed).
   */
  private async replay(): Promise<number | undefined> {
    const { signal, counters, emit, backoff } = this.options;
    const spool = this.options.spool!;
    let batches = 0;
    let bytes = 0;
    let retryIn: number | undefined;
    while (!this.closed) {
      const entry: SpoolEntry | undefined = spool.head(signal);
      if (entry === undefined) break;
      const body = await spool.read(entry);
      if (body === undefined) {
        // Its file vanished or its write failed: nothing to send.
        await spool.remove(entry);
        continue;
      }
      const outcome = await this.post(body, entry.encoding);
      if (outcome.kind === "retry") {
        counters.failures++;
        emit({ type: "failed", signal, reason: outcome.reason, spooled: true });
        retryIn = Math.max(this.delay, Math.min(outcome.retryAfterMs ?? 0, backoff.maxMs));
        this.delay = Math.min(this.delay * 2, backoff.maxMs);
        break;
      }
      // Evicted while in flight: the eviction already counted it as dropped.
      if (entry.removed) continue;
      // Counted before the removal, so that `stats()` never shows a batch neither held nor counted.
      if (outcome.kind === "ok") {
        counters.replayed++;
        batches++;
        bytes += entry.bytes;
      } else {
        counters.dropped++;
        emit({ type: "dropped", signal, batches: 1, bytes: entry.bytes, reason: `refused on replay: ${outcome.reason}` });
      }
      await spool.remove(entry);
    }
    if (batches > 0) emit({ type: "replayed", signal, batches, bytes });
    if (retryIn === undefined) this.delay = backoff.minMs;
    return retryIn;
  }
}
