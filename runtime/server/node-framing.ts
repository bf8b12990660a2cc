import type { IncomingMessage } from "node:http";
import { incomingOf } from "./node-listen.ts";

/** Marks a connection whose framing the gateway refused: nothing more is read from it as a request. */
const REFUSED = Symbol("portico.refusedConnection");

/**
 * Why a request that node:http accepted must still be refused for its framing, or undefined. Node's
 * parser lets through shapes that make the gateway and a backend disagree on where a request ends:
 * `Transfer-Encoding` (even empty) together with `Content-Length`, `Transfer-Encoding` on an
 * HTTP/1.0 request, and a `Transfer-Encoding` that is empty or anything but `chunked`. Requests that
 * arrive on a connection where such a request was refused are refused too: they were framed by a
 * parser that had already misread the stream (a smuggled request looks like a fresh one).
 */
export function incomingFramingProblem(env: unknown): string | undefined {
  const incoming = incomingOf(env);
  if (!incoming) return undefined;
  const socket = incoming.socket as (typeof incoming.socket & { [REFUSED]?: true }) | null;
  if (socket?.[REFUSED]) return "an earlier request on this connection was refused for its framing";
  const problem = transferEncodingProblem(incoming);
  if (problem && socket) socket[REFUSED] = true;
  return problem;
}

function transferEncodingProblem(incoming: IncomingMessage): string | undefined {
  // The common case, without a walk over the raw headers: node:http records an empty value too.
  if (incoming.headers["transfer-encoding"] === undefined) return undefined;
  const raw = incoming.rawHeaders;
  let codings: string | undefined;
  let length = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 17 && name.toLowerCase() === "transfer-encoding") codings = codings === undefined ? raw[i + 1]! : `${codings},${raw[i + 1]!}`;
    else if (name.length === 14 && name.toLowerCase() === "content-length") length = true;
  }
  if (codings === undefined) return undefined;
  if (length) return "Transfer-Encoding and Content-Length must not both be sent";
  if (incoming.httpVersion === "1.0") return "Transfer-Encoding is not allowed on an HTTP/1.0 request";
  if (codings.trim().toLowerCase() !== "chunked") return "Transfer-Encoding must be exactly chunked";
  return undefined;
}
