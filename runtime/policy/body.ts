import { HttpProblem } from "../http/problem.ts";
import type { PolicyExchange } from "./abi.ts";

/** How much of each body a policy may read and replace (bytes; 0 = no access). */
export interface BodyLimits {
  readonly request: number;
  readonly response: number;
}

/** Reads a body (a stream, or the client's guarded body) into memory, refusing (with `tooLarge`) as soon as it passes `limit` bytes. */
async function readLimited(source: AsyncIterable<Uint8Array> | null, limit: number, tooLarge: () => HttpProblem): Promise<Uint8Array<ArrayBuffer>> {
  if (!source) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early (too large, or an error) stops the source.
  for await (const chunk of source) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
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
      exchange.requestBody = await readLimited(exchange.clientBody ?? null, limit, () => new HttpProblem("payload-too-large", { detail: `A policy of this API reads request bodies of at most ${limit} bytes.` }));
    } else if (exchange.requestBody.length > limit) {
      throw new HttpProblem("payload-too-large", { detail: `A policy of this API reads request bodies of at most ${limit} bytes.` });
    }
    return;
  }
  if (exchange.responseBody === undefined) {
    exchange.responseBody = await readLimited((exchange.upstreamBody as AsyncIterable<Uint8Array> | null | undefined) ?? null, limit, () => new HttpProblem("backend-response-too-large", { internal: `backend response body over ${limit} bytes for policy "${exchange.policy}"` }));
  } else if (exchange.responseBody.length > limit) {
    throw new HttpProblem("backend-response-too-large", { internal: `backend response body over ${limit} bytes for policy "${exchange.policy}"` });
  }
}
