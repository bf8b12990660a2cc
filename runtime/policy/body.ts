import { HttpProblem } from "../http/problem.ts";
import type { PolicyExchange } from "./abi.ts";

/** How much of each body a policy may read and replace (bytes; 0 = no access). */
export interface BodyLimits {
  readonly request: number;
  readonly response: number;
}

/** Reads a body stream into memory, refusing (with `tooLarge`) as soon as it passes `limit` bytes. */
async function readLimited(stream: ReadableStream<Uint8Array> | null, limit: number, tooLarge: () => HttpProblem): Promise<Uint8Array<ArrayBuffer>> {
  if (!stream) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.length;
  }
  return body;
}

/**
 * Makes a body available to a policy that opted in to it: buffered once per exchange (the first
 * policy that needs it reads the stream; the backend or the client then gets the buffered bytes),
 * and refused if it is larger than this policy's limit: 413 for a request body, 502 for a response.
 */
export async function loadBody(exchange: PolicyExchange, which: "request" | "response", limit: number): Promise<void> {
  if (which === "request") {
    if (exchange.requestBody === undefined) {
      exchange.requestBody = await readLimited(exchange.incoming?.body ?? null, limit, () => new HttpProblem("payload-too-large", { detail: `A policy of this API reads request bodies of at most ${limit} bytes.` }));
    } else if (exchange.requestBody.length > limit) {
      throw new HttpProblem("payload-too-large", { detail: `A policy of this API reads request bodies of at most ${limit} bytes.` });
    }
    return;
  }
  if (exchange.responseBody === undefined) {
    exchange.responseBody = await readLimited(exchange.upstreamBody ?? null, limit, () => new HttpProblem("backend-response-too-large", { internal: `backend response body over ${limit} bytes for policy "${exchange.policy}"` }));
  } else if (exchange.responseBody.length > limit) {
    throw new HttpProblem("backend-response-too-large", { internal: `backend response body over ${limit} bytes for policy "${exchange.policy}"` });
  }
}
