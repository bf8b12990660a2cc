/**
 * Where a logger's lines go when they are not handed to a function: a bounded asynchronous writer
 * per runtime (stdout, stderr or a file), which never blocks the event loop and refuses a line it
 * has no room for, so the logger can count it as dropped (runtime/observability/log.ts).
 */
import SonicBoom from "sonic-boom";
import { detectRuntime } from "../server/detect.ts";

/** A bounded asynchronous writer of lines. */
export interface Destination {
  /** Queues a line, or returns false when it does not fit (or the destination is gone). Never blocks. */
  write(line: string): boolean;
  /** True when nothing is queued or being written. */
  idle(): boolean;
  /** Called when the queue has been written out. */
  onDrain: () => void;
  /** Writes what is queued synchronously where the runtime allows it, retrying a full pipe for at most `ms`. */
  flushSync(ms: number): void;
  /** Releases a destination this logger opened (a path); stdout and stderr stay open. */
  end(): void;
}

/**
 * Bun and Node: sonic-boom (pino's destination) without pino's exit hook, which retries a stalled
 * pipe forever at exit. `maxLength` bounds the bytes held; a write beyond it is dropped and reported
 * by the synchronous `drop` event. Full pipes (EAGAIN) are retried every 100 ms by sonic-boom.
 */
function sonicDestination(dest: number | string, maxLength: number): Destination {
  let giveUpAt = Infinity;
  let dropped = false;
  let broken = false;
  let idle = true;
  // Buffers, encoded once here: in string mode sonic-boom measures and re-encodes the text on every write.
  const sonic = new SonicBoom({ dest, sync: false, maxLength, maxWrite: 64 * 1024, contentMode: "buffer", retryEAGAIN: () => Date.now() < giveUpAt });
  const destination: Destination = {
    write(line) {
      if (broken) return false;
      dropped = false;
      sonic.write(Buffer.from(line, "utf8") as unknown as string);
      if (dropped) return false;
      idle = false;
      return true;
    },
    idle: () => idle || broken,
    onDrain: () => {},
    flushSync(ms) {
      if (broken || idle) return;
      giveUpAt = Date.now() + ms;
      try {
        sonic.flushSync();
      } catch {
        // still full after `ms`, or gone: what is left is lost
      } finally {
        giveUpAt = Infinity;
      }
    },
    end() {
      broken = true;
      if (typeof dest === "string") sonic.end();
    },
  };
  sonic.on("drop", () => (dropped = true));
  sonic.on("drain", () => {
    idle = true;
    destination.onDrain();
  });
  // EPIPE (nobody reads stdout any more) or another write error: stop writing; later lines count as dropped.
  sonic.on("error", () => (broken = true));
  return destination;
}

/** What Deno offers to write to stdout or a file: asynchronous writes that do not block the event loop. */
interface DenoWriter {
  write(data: Uint8Array): Promise<number>;
  close?(): void;
}

/** Largest chunk handed to one write. */
const MAX_CHUNK = 64 * 1024;

/**
 * Deno: its `node:fs` write runs on the event loop's thread, so a stdout pipe nobody reads stops
 * every request (measured with Deno 2.9). Its own `Deno.stdout.write` runs elsewhere; this queue
 * writes through it one chunk at a time, holding at most `maxLength` bytes. A pending write cannot
 * be completed synchronously, so `flushSync` does nothing here: shutdown paths use `close()`.
 */
function denoDestination(target: DenoWriter, maxLength: number, owned: boolean): Destination {
  const encoder = new TextEncoder();
  let queue: Uint8Array[] = [];
  let queued = 0;
  let writing = false;
  let broken = false;
  const take = (): Uint8Array => {
    if (queue.length === 1 || queue[0]!.length >= MAX_CHUNK) return queue.shift()!;
    let size = 0;
    let count = 0;
    while (count < queue.length && size + queue[count]!.length <= MAX_CHUNK) size += queue[count++]!.length;
    const chunk = new Uint8Array(size);
    let offset = 0;
    for (const part of queue.splice(0, count)) {
      chunk.set(part, offset);
      offset += part.length;
    }
    return chunk;
  };
  const pump = async () => {
    writing = true;
    try {
      while (queue.length > 0) {
        const chunk = take();
        for (let offset = 0; offset < chunk.length;) offset += await target.write(chunk.subarray(offset));
        queued -= chunk.length;
      }
    } catch {
      // broken pipe or another write error: stop writing; later lines count as dropped
      broken = true;
      queue = [];
      queued = 0;
    }
    writing = false;
    if (!broken) destination.onDrain();
  };
  const destination: Destination = {
    write(line) {
      if (broken) return false;
      const data = encoder.encode(line);
      if (queued + data.length > maxLength) return false;
      queue.push(data);
      queued += data.length;
      if (!writing) void pump();
      return true;
    },
    idle: () => !writing || broken,
    onDrain: () => {},
    flushSync: () => {},
    end() {
      broken = true;
      if (owned) target.close?.();
    },
  };
  return destination;
}

type DenoGlobal = {
  stdout: DenoWriter;
  stderr: DenoWriter;
  openSync(path: string, options: { write: true; append: true }): DenoWriter;
};

/**
 * The buffered destination for this runtime: sonic-boom on Bun and Node, Deno's own writer on Deno
 * (see denoDestination), holding at most `maxLength` bytes.
 */
export function openDestination(dest: number | string, maxLength: number): Destination {
  if (detectRuntime() !== "deno") return sonicDestination(dest, maxLength);
  const deno = (globalThis as unknown as { Deno: DenoGlobal }).Deno;
  if (dest === 1) return denoDestination(deno.stdout, maxLength, false);
  if (dest === 2) return denoDestination(deno.stderr, maxLength, false);
  if (typeof dest === "string") return denoDestination(deno.openSync(dest, { write: true, append: true }), maxLength, true);
  throw new Error(`log destination: file descriptor ${dest} is not supported on Deno (use 1, 2 or a path)`);
}
