/**
 * A backend's response body as undici's dispatcher delivers it (Node and Deno), without a Node
 * `Readable` in between. undici's `request()` wraps every body in a Readable (its stream machinery,
 * an AsyncResource, a promise per call); a node:http proxy that takes the chunks from the
 * dispatcher's handler instead spent about 10 µs less CPU per request here (two bare Node proxies
 * side by side: docs/design/performance.md, "Node and Deno: the dispatcher's handler").
 *
 * The producer (the dispatch handler in undici.ts) pushes chunks, then ends or fails; one consumer
 * reads them once (`read`): node:http's response directly (node-body.ts) or a web stream
 * (`toWeb`). Chunks that come before anybody reads wait here, up to a high-water mark past which
 * the producer is asked to pause; a consumer that is full returns false and calls `resume` when it
 * has room again, which resumes the producer. A consumer that lets go (`destroy`) aborts the
 * backend's response, unless it had already ended.
 */

/** Where an UpstreamBody's chunks go once somebody reads it. */
export interface BodySink {
  /** A chunk; false when the sink is full: the body pauses until `UpstreamBody.resume`. */
  data(chunk: Uint8Array): boolean;
  /** The body ended with every byte the backend sent. */
  end(): void;
  /** The body failed (the backend's connection reset, a timeout): nothing follows. */
  fail(error: Error): void;
}

/** How the producer of an UpstreamBody is paused, resumed and aborted. */
export interface BodyProducer {
  /** Starts sending chunks again after `push` returned false. */
  resume(): void;
  /** Stops the body for good (the connection to the backend is closed unless the body had ended). */
  abort(reason: Error): void;
}

/** Bytes that wait for a reader before the producer is asked to pause (undici's own Readable waits as many). */
export const BODY_HIGH_WATER_MARK = 64 * 1024;

/** Why an UpstreamBody was let go of when its consumer gave no reason. */
function abandoned(): Error {
  return new Error("the backend's response body was not read to its end");
}

/** A backend's response body, read once, by a BodySink or as a web stream. */
export class UpstreamBody {
  readonly #producer: BodyProducer;
  /** Chunks that came before a reader, in order. */
  #queue: Uint8Array[] = [];
  #queued = 0;
  #sink: BodySink | undefined;
  #ended = false;
  #error: Error | undefined;
  /** Whether the producer was asked to pause (push returned false). */
  #paused = false;
  /** Whether somebody has read (or let go of) the body. */
  #taken = false;
  /** The consumer let go: nothing is delivered any more. */
  #destroyed = false;

  constructor(producer: BodyProducer) {
    this.#producer = producer;
  }

  /** Whether the body ended or failed (nothing more will be pushed). */
  get settled(): boolean {
    return this.#ended || this.#error !== undefined;
  }

  /** Whether the producer failed (a reader that comes later meets the error). */
  get failed(): boolean {
    return this.#error !== undefined;
  }

  /** The producer's next chunk. False asks the producer to pause until the consumer has room. */
  push(chunk: Uint8Array): boolean {
    if (this.#destroyed || this.settled) return true;
    const sink = this.#sink;
    // Straight to the reader, unless chunks still wait for it to have room (they go first).
    if (sink && this.#queue.length === 0) {
      if (sink.data(chunk)) return true;
      this.#paused = true;
      return false;
    }
    this.#queue.push(chunk);
    this.#queued += chunk.byteLength;
    if (this.#queued < BODY_HIGH_WATER_MARK) return true;
    this.#paused = true;
    return false;
  }

  /** The producer sent the whole body. */
  end(): void {
    if (this.#destroyed || this.settled) return;
    this.#ended = true;
    const sink = this.#sink;
    if (sink && this.#queue.length === 0) {
      this.#sink = undefined;
      sink.end();
    }
  }

  /** The producer failed; a reader that comes later meets the error after the chunks that came before it. */
  fail(error: Error): void {
    if (this.#destroyed || this.settled) return;
    this.#error = error;
    const sink = this.#sink;
    if (sink && this.#queue.length === 0) {
      this.#sink = undefined;
      sink.fail(error);
    }
  }

  /**
   * Reads the body into `sink`, once: the chunks that waited first (synchronously, as long as it
   * has room), then each as it comes, then its end or its failure.
   */
  read(sink: BodySink): void {
    if (this.#taken) throw new TypeError("the backend's body was already read");
    this.#taken = true;
    this.#sink = sink;
    this.#flush();
  }

  /** The consumer has room again: the chunks that waited go first, then the producer resumes. */
  resume(): void {
    if (this.#destroyed) return;
    this.#flush();
  }

  /** Delivers what waited while the sink has room; resumes the producer once nothing waits. */
  #flush(): void {
    const sink = this.#sink;
    if (!sink) return;
    while (this.#queue.length > 0) {
      const chunk = this.#queue.shift()!;
      this.#queued -= chunk.byteLength;
      if (!sink.data(chunk)) {
        if (this.#queue.length > 0 || !this.settled) return;
        break;
      }
      // The sink may have let go of the body from inside `data`.
      if (this.#destroyed) return;
    }
    if (this.#ended) {
      this.#sink = undefined;
      sink.end();
    } else if (this.#error) {
      this.#sink = undefined;
      sink.fail(this.#error);
    } else if (this.#paused) {
      this.#paused = false;
      this.#producer.resume();
    }
  }

  /**
   * The consumer lets go (the client went away, a stream was cancelled): nothing more is
   * delivered, and a body still arriving is aborted with `reason`.
   */
  destroy(reason?: Error): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#taken = true;
    this.#sink = undefined;
    this.#queue = [];
    this.#queued = 0;
    if (!this.settled) this.#producer.abort(reason ?? abandoned());
  }

  /**
   * The body as a web stream, taken once: chunks go in as they come, up to 64 KiB waiting in the
   * stream, past which the backend is paused until its reader pulls; cancelling it lets go of the body.
   */
  toWeb(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.read({
          data: (chunk) => {
            controller.enqueue(chunk);
            return (controller.desiredSize ?? 1) > 0;
          },
          end: () => controller.close(),
          fail: (error) => controller.error(error),
        });
      },
      pull: () => this.resume(),
      cancel: (reason) => this.destroy(reason instanceof Error ? reason : undefined),
    }, { highWaterMark: BODY_HIGH_WATER_MARK, size: (chunk) => chunk?.byteLength ?? 0 });
  }
}
