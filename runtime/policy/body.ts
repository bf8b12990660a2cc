import { HttpProblem } from "../http/problem.ts";
import type { PolicyExchange } from "./abi.ts";

/** How much of each body a policy may read and replace (bytes; 0 = no access). */
export interface BodyLimits {
  readonly request: number;
  readonly response: number;
}

/**
 * The backend's response body for the outbound section: `exchange.upstreamBody`, taken out of
 * `exchange.upstreamResponse` the first time something asks for it (until then the response's body
 * is untouched, so the response can go on as it is).
 */
export function upstreamBodyOf(exchange: PolicyExchange): ReadableStream<Uint8Array> | null | undefined {
  const response = exchange.upstreamResponse;
  if (response !== undefined && exchange.upstreamBody === undefined) {
    exchange.upstreamResponse = undefined;
    exchange.upstreamBody = response.body;
  }
  return exchange.upstreamBody;
}

/** Seconds a client refused for want of buffer room is asked to wait (`Retry-After`). */
const BUFFERS_FULL_RETRY_SECONDS = 1;

/**
 * The bytes of bodies buffered for policies at once, across every request of the process
 * (policy.body.max-buffered), so that many clients each sending a body a policy reads (up to 1 MiB
 * each, as slowly as they like) cannot make the gateway hold more than that. Each chunk is counted
 * as it arrives; the count goes down when the request is done with the body (see loadBody).
 */
export class BodyBuffers {
  #bytes = 0;
  #refusals = 0;

  constructor(readonly maxBytes: number) {}

  /** Counts `n` more bytes; false (and nothing counted) when that would pass `maxBytes`. */
  take(n: number): boolean {
    if (this.#bytes + n > this.maxBytes) return false;
    this.#bytes += n;
    return true;
  }

  /** Gives back `n` bytes that `take` counted. */
  giveBack(n: number): void {
    this.#bytes -= n;
  }

  /** Bytes buffered right now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bodies refused so far because buffering them would have passed `maxBytes`. */
  get refusals(): number {
    return this.#refusals;
  }

  /** The answer to a request whose body did not fit: 503 with Retry-After, counted. */
  full(which: "request" | "response"): HttpProblem {
    this.#refusals += 1;
    return new HttpProblem("buffers-full", {
      detail: `The gateway is buffering as many bodies for policies as it may; try again in ${BUFFERS_FULL_RETRY_SECONDS} second.`,
      headers: { "retry-after": String(BUFFERS_FULL_RETRY_SECONDS) },
      internal: `the ${which} body was not buffered: bodies buffered for policies would pass policy.body.max-buffered (${this.maxBytes} bytes)`,
    });
  }
}

/**
 * Reads a body (a stream, or the client's guarded body) into memory, refusing (with `tooLarge`) as
 * soon as it passes `limit` bytes, and (with BodyBuffers.full) as soon as `buffers` has no room for
 * the next chunk; `held` receives the bytes counted in `buffers`, which a refusal or a failed read
 * gives back itself. Leaving the loop early stops the source.
 */
async function readLimited(
  source: AsyncIterable<Uint8Array> | null,
  limit: number,
  tooLarge: () => HttpProblem,
  buffers: BodyBuffers | undefined,
  which: "request" | "response",
): Promise<{ body: Uint8Array<ArrayBuffer>; held: number }> {
  if (!source) return { body: new Uint8Array(0), held: 0 };
  const chunks: Uint8Array[] = [];
  let size = 0;
  let held = 0;
  let complete = false;
  try {
    for await (const value of source) {
      size += value.length;
      if (size > limit) throw tooLarge();
      if (buffers) {
        if (!buffers.take(value.length)) throw buffers.full(which);
        held += value.length;
      }
      chunks.push(value);
    }
    complete = true;
  } finally {
    if (!complete && held) buffers!.giveBack(held);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.length;
  }
  return { body, held };
}

/**
 * Makes a body available to a policy that opted in to it: buffered once per exchange (the first
 * policy that needs it reads the stream; the backend or the client then gets the buffered bytes),
 * and refused if it is larger than this policy's limit: 413 for a request body, 502 for a response.
 * With `buffers`, the bytes read count against the process-wide cap until the request is done
 * (`exchange.releases`, run when the gateway hands its answer to the runtime); a body that would
 * pass the cap is refused with 503 and Retry-After.
 */
export async function loadBody(exchange: PolicyExchange, which: "request" | "response", limit: number, buffers?: BodyBuffers): Promise<void> {
  if (which === "request") {
    if (exchange.requestBody === undefined) {
      const tooLarge = () => new HttpProblem("payload-too-large", { detail: `A policy of this API reads request bodies of at most ${limit} bytes.` });
      const { body, held } = await readLimited(exchange.clientBody ?? null, limit, tooLarge, buffers, which);
      exchange.requestBody = body;
      hold(exchange, buffers, held);
    } else if (exchange.requestBody.length > limit) {
      throw new HttpProblem("payload-too-large", { detail: `A policy of this API reads request bodies of at most ${limit} bytes.` });
    }
    return;
  }
  if (exchange.responseBody === undefined) {
    const tooLarge = () =>
      new HttpProblem("backend-response-too-large", { internal: `backend response body over ${limit} bytes for policy "${exchange.policy}"` });
    const { body, held } = await readLimited(
      (upstreamBodyOf(exchange) as AsyncIterable<Uint8Array> | null | undefined) ?? null,
      limit,
      tooLarge,
      buffers,
      which,
    );
    exchange.responseBody = body;
    hold(exchange, buffers, held);
  } else if (exchange.responseBody.length > limit) {
    throw new HttpProblem("backend-response-too-large", { internal: `backend response body over ${limit} bytes for policy "${exchange.policy}"` });
  }
}

/** Gives the bytes a body holds back to `buffers` when the exchange ends. */
function hold(exchange: PolicyExchange, buffers: BodyBuffers | undefined, held: number): void {
  if (buffers && held) (exchange.releases ??= []).push(() => buffers.giveBack(held));
}
