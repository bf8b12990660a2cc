/**
 * Process metrics that work the same on Bun, Deno and Node: CPU time and resident memory (read
 * from `node:process` at collection) and event-loop delay, measured as the drift of a timer.
 * `telemetry.metrics.system.enabled: false` leaves them all out.
 */
import process from "node:process";
import { type Meter, ValueType } from "@opentelemetry/api";
import { HistogramCells, type HistogramSeries } from "./histogram.ts";

/** Upper bounds of the event-loop delay buckets, in seconds. */
export const EVENT_LOOP_DELAY_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** How often the event-loop timer fires: its lateness is the delay. */
const SAMPLE_INTERVAL_MS = 100;

/** Registers `process.cpu.time` (by `cpu.mode`) and `process.memory.usage` (RSS) as observable instruments. */
export function registerProcessMetrics(meter: Meter): void {
  meter
    .createObservableCounter("process.cpu.time", { description: "CPU time the gateway process used, by mode (user, system).", unit: "s" })
    .addCallback((result) => {
      const { user, system } = process.cpuUsage();
      result.observe(user / 1e6, { "cpu.mode": "user" });
      result.observe(system / 1e6, { "cpu.mode": "system" });
    });
  meter
    .createObservableUpDownCounter("process.memory.usage", {
      description: "Resident memory of the gateway process (RSS).",
      unit: "By",
      valueType: ValueType.INT,
    })
    .addCallback((result) => result.observe(residentBytes()));
}

/** RSS in bytes; `memoryUsage.rss()` skips the heap statistics where the runtime has it. */
function residentBytes(): number {
  const usage = process.memoryUsage as typeof process.memoryUsage & { rss?: () => number };
  return typeof usage.rss === "function" ? usage.rss() : usage().rss;
}

/**
 * Event-loop delay by timer drift: an unref'd timer every 100 ms records how late it fired. Any
 * runtime has timers, so this needs neither `perf_hooks.monitorEventLoopDelay` (Node only) nor
 * anything of Bun or Deno. A long synchronous task shows as one late tick of its length.
 */
export class EventLoopDelay implements HistogramSeries {
  readonly description = {
    name: "portico.eventloop.delay_seconds",
    description: "How late a 100 ms timer fired: the time the event loop was busy before it could run (sampled every 100 ms).",
    unit: "s",
  };
  readonly cells = new HistogramCells(EVENT_LOOP_DELAY_BOUNDS);
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Starts sampling (once). */
  start(): this {
    if (this.#timer !== undefined) return this;
    let last = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.cells.record(Math.max(0, now - last - SAMPLE_INTERVAL_MS) / 1000);
      last = now;
    }, SAMPLE_INTERVAL_MS);
    unref(this.#timer);
    return this;
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  *series(): Iterable<readonly [Record<string, string>, HistogramCells]> {
    if (this.cells.count) yield [{}, this.cells];
  }
}

/** Lets the process exit while a timer is pending: Node's and Bun's timer objects, Deno's timer ids. */
function unref(timer: ReturnType<typeof setInterval>): void {
  if (typeof timer === "object" && timer !== null && "unref" in timer) (timer as { unref(): void }).unref();
  else (globalThis as { Deno?: { unrefTimer(id: number): void } }).Deno?.unrefTimer(timer as unknown as number);
}
