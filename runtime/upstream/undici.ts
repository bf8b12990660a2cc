import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { Agent, errors, request as undiciRequest } from "undici";
import { hasNoBody, UpstreamTimeout, type UpstreamClient, type UpstreamRequest } from "./client.ts";

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

function toHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers();
  for (const name in raw) {
    const value = raw[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.append(name, value);
  }
  return headers;
}

function headerRecord(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

/**
 * A web stream over a Node readable that reads only when the consumer pulls (so backpressure reaches
 * the backend) and destroys the readable when the consumer cancels, e.g. when the client goes away.
 * Node 20's `Readable.toWeb` can enqueue after a cancel and crash the process with ERR_INVALID_STATE.
 */
function webStream(body: Readable): ReadableStream<Uint8Array> {
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { value, done } = await chunks.next();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(error);
      }
    },
    cancel(reason) {
      body.destroy(reason instanceof Error ? reason : undefined);
    },
  });
}

/**
 * An upstream client on undici's dispatcher API for Node, several times faster than Node's
 * `fetch`. The request body streams straight from Node's IncomingMessage when the adapter exposes it.
 */
export function undiciUpstream(): UpstreamClient {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 256, pipelining: 1 });
  return {
    async send(request: UpstreamRequest): Promise<Response> {
      let body: Readable | null = null;
      if (!hasNoBody(request.method)) {
        const incoming = (request.env as { incoming?: IncomingMessage } | undefined)?.incoming;
        body = incoming ?? (request.incoming.body ? Readable.fromWeb(request.incoming.body as unknown as import("node:stream/web").ReadableStream) : null);
      }
      let res: Awaited<ReturnType<typeof undiciRequest>>;
      try {
        res = await undiciRequest(request.url, {
          method: request.method as "GET",
          headers: headerRecord(request.headers),
          body,
          dispatcher: agent,
          // undici's own header timer replaces an AbortController and a timer per request.
          headersTimeout: request.timeoutMs,
          bodyTimeout: 0,
        });
      } catch (error) {
        throw error instanceof errors.HeadersTimeoutError ? new UpstreamTimeout(request.timeoutMs) : error;
      }
      const noBody = request.method === "HEAD" || NULL_BODY_STATUS.has(res.statusCode);
      if (noBody) res.body.resume();
      return new Response(noBody ? null : webStream(res.body), { status: res.statusCode, headers: toHeaders(res.headers) });
    },
    close: () => agent.close(),
  };
}
