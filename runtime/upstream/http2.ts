import { type ClientHttp2Session, type ClientHttp2Stream, connect, constants, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import { isIP } from "node:net";
import type { ConnectionOptions } from "node:tls";
import type { BackendTlsMaterial } from "../../config/snapshot/build.ts";
import { tunnelThrough } from "../websocket/tunnel.ts";
import { type UpstreamClient, type UpstreamRequest, UpstreamTimeout } from "./client.ts";
import type { EgressProxy } from "./egress-proxy.ts";
import { flowingWebStream } from "./web-stream.ts";
import { closeWhenSent, MAX_STREAMS_PER_SESSION } from "./http2-session.ts";

/** Backend origins (with their TLS material and proxy) with an open session at most; past it the oldest is closed gracefully. */
export const MAX_HTTP2_SESSIONS = 256;

/** A session with no stream for this long is closed (as undici's keep-alive timeout for HTTP/1.1 connections). */
export const HTTP2_IDLE_MS = 30_000;

/** Header fields HTTP/2 forbids (RFC 9113 §8.2.2): the connection's own, which HTTP/1.1 carries per hop. */
const CONNECTION_SPECIFIC = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host", "te"]);

/** Statuses whose responses have no body. */
const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

/** How the HTTP/2 client connects: the client TLS limits (`net.client.tls.*`) and the egress proxy decision. */
export interface Http2UpstreamOptions {
  /** TLS options every backend connection starts from (ciphers, highest version); the backend's `tls:` is added to them. */
  readonly tls?: ConnectionOptions;
  readonly proxy?: EgressProxy;
  /** MAX_STREAMS_PER_SESSION unless said (tests use a small value). */
  readonly maxStreamsPerSession?: number;
}

/**
 * The upstream client for backends with `protocol: http2`, on `node:http2` (its client runs on Bun,
 * Deno and Node alike): one session per backend origin, TLS material and proxy, with many requests
 * multiplexed on it; `https://` origins are h2 by ALPN with the backend's `tls:` section, `http://`
 * ones h2c with prior knowledge. A backend the egress proxy does not exempt is reached through a
 * CONNECT tunnel (TLS inside it for https://). Sessions that fail, close or receive GOAWAY are
 * forgotten, so the next request connects again; an idle session is closed after HTTP2_IDLE_MS.
 * Response headers must arrive within the request's timeout (the request body's sending included),
 * else the stream is cancelled and `send` rejects with UpstreamTimeout. The response body streams
 * with backpressure, and cancelling it resets the stream (RST_STREAM CANCEL).
 */
export function http2Upstream(options: Http2UpstreamOptions = {}): UpstreamClient {
  const sessions = new Http2Sessions(options);
  return {
    async send(request: UpstreamRequest): Promise<Response> {
      const url = new URL(request.url);
      const headers = outgoingHeaders(request, url);
      try {
        return await attempt(sessions, request, url, headers);
      } catch (error) {
        // A stream the backend refused, or one past its GOAWAY, was not processed (RFC 9113 §8.7):
        // sent again once on a new session when its body can be sent again (none, or buffered).
        if (!(error instanceof Unprocessed) || request.clientBody) throw error instanceof Unprocessed ? error.cause : error;
      }
      try {
        return await attempt(sessions, request, url, headers);
      } catch (error) {
        throw error instanceof Unprocessed ? error.cause : error;
      }
    },
    close: () => sessions.close(),
  };
}

/** One try of a request on the backend's current session. */
async function attempt(sessions: Http2Sessions, request: UpstreamRequest, url: URL, headers: OutgoingHttpHeaders): Promise<Response> {
  const open = sessions.session(url, request.tls);
  const session = open instanceof Promise ? await open : open;
  const body = request.body ?? request.clientBody;
  let stream: ClientHttp2Stream;
  try {
    stream = session.request(headers, { endStream: body === undefined });
  } catch (error) {
    // The session received GOAWAY (or closed) and its 'goaway' event has not run yet.
    sessions.retire(session);
    throw new Unprocessed(error as Error);
  }
  sessions.counted(session);
  const response = responseOf(stream, request);
  if (request.body) stream.end(request.body);
  else if (request.clientBody) void pump(request.clientBody, stream);
  try {
    return await response;
  } catch (error) {
    // Whichever order the runtime reports GOAWAY and the refused streams in, the next try takes a new session.
    if (error instanceof Unprocessed) sessions.retire(session);
    throw error;
  }
}

/** A request the backend did not process: refused (RST_STREAM REFUSED_STREAM) or cut off by GOAWAY. */
class Unprocessed extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
    this.name = "Unprocessed";
  }
}

/** The request's pseudo-header fields and its headers, without the fields HTTP/2 forbids (`te` only as `trailers`). */
function outgoingHeaders(request: UpstreamRequest, url: URL): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ":method": request.method,
    ":scheme": url.protocol === "https:" ? "https" : "http",
    // A Host a policy set names the authority, as it would over HTTP/1.1; else the backend's own.
    ":authority": request.headers.get("host") ?? url.host,
    ":path": url.pathname + url.search,
  };
  request.headers.forEach((value, name) => {
    if (!CONNECTION_SPECIFIC.has(name)) out[name] = value;
    else if (name === "te" && value.trim().toLowerCase() === "trailers") out.te = "trailers";
  });
  return out;
}

/** Resolves with the response once its headers arrive; rejects on a stream error, a reset before them, or the timeout. */
function responseOf(stream: ClientHttp2Stream, request: UpstreamRequest): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    let answered = false;
    const timer = setTimeout(() => {
      if (answered) return;
      answered = true;
      stream.close(constants.NGHTTP2_CANCEL);
      reject(new UpstreamTimeout(request.timeoutMs));
    }, request.timeoutMs);
    stream.once("response", (fields: IncomingHttpHeaders) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      const status = Number(fields[":status"]);
      const headers = new Headers();
      for (const name in fields) {
        if (name.charCodeAt(0) === 58) continue; // ":status" and any other pseudo-header field
        const value = fields[name];
        if (value === undefined) continue;
        if (Array.isArray(value)) { for (const v of value) headers.append(name, v); }
        else headers.append(name, String(value));
      }
      const noBody = request.method === "HEAD" || NULL_BODY_STATUS.has(status);
      if (noBody) stream.resume();
      resolve(new Response(noBody ? null : flowingWebStream(stream), { status, headers }));
    });
    // After the headers, errors reach the body's reader through the web stream; this listener only
    // keeps an error from being unhandled. Before them, 'close' (which follows 'error') decides, once
    // the reset code is known: runtimes differ in which error they give a refused stream.
    let failure: NodeJS.ErrnoException | undefined;
    stream.on("error", (error: NodeJS.ErrnoException) => {
      failure ??= error;
    });
    stream.once("close", () => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      const error = failure ?? new Error(`the backend reset the HTTP/2 stream before answering (error code ${stream.rstCode ?? "unknown"})`);
      const refused = stream.rstCode === constants.NGHTTP2_REFUSED_STREAM || failure?.code === "ERR_HTTP2_GOAWAY_SESSION";
      reject(refused ? new Unprocessed(error) : error);
    });
  });
}

/**
 * Writes the client's body to the stream as it arrives, waiting for `drain` (backpressure), then
 * ends it. Stops reading (which settles the body) when the stream is gone, e.g. the backend answered
 * early or reset it; a body cut off for slowness cancels the stream.
 */
async function pump(body: AsyncIterable<Uint8Array>, stream: ClientHttp2Stream): Promise<void> {
  try {
    for await (const chunk of body) {
      if (stream.destroyed || stream.writableEnded) return;
      if (!stream.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            stream.off("drain", done);
            stream.off("close", done);
            resolve();
          };
          stream.on("drain", done);
          stream.on("close", done);
        });
      }
    }
    if (!stream.destroyed) stream.end();
  } catch {
    if (!stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
  }
}

/**
 * HTTP/2 sessions to backends, by origin, TLS material and egress proxy: a direct one is returned at
 * once (node:http2 queues requests until it connects); one through the proxy once its tunnel is up.
 */
class Http2Sessions {
  readonly #sessions = new Map<string, ClientHttp2Session | Promise<ClientHttp2Session>>();
  /** Each session's key and the streams opened on it. */
  readonly #usage = new WeakMap<ClientHttp2Session, { readonly key: string; streams: number; goneAway: boolean }>();
  readonly #options: Http2UpstreamOptions;
  #closed = false;

  constructor(options: Http2UpstreamOptions) {
    this.#options = options;
  }

  session(url: URL, tls: BackendTlsMaterial | undefined): ClientHttp2Session | Promise<ClientHttp2Session> {
    if (this.#closed) throw new Error("the gateway is shutting down");
    const via = this.#options.proxy?.proxyFor(url.href);
    const key = `${url.origin} ${tls?.fingerprint ?? ""} ${via?.origin ?? ""}`;
    const open = this.#sessions.get(key);
    if (open instanceof Promise) return open;
    if (open && !open.closed && !open.destroyed) {
      // At its share of streams, the session takes no more; it closes once they are done.
      if (this.#usage.get(open)!.streams < (this.#options.maxStreamsPerSession ?? MAX_STREAMS_PER_SESSION)) return open;
      this.retire(open);
    }
    if (this.#sessions.size >= MAX_HTTP2_SESSIONS) {
      const [oldestKey, oldest] = this.#sessions.entries().next().value!;
      this.#sessions.delete(oldestKey);
      void Promise.resolve(oldest).then(closeWhenSent, () => {});
    }
    const secure = url.protocol === "https:" ? this.#tlsOptions(url, tls) : undefined;
    if (!via) {
      const session = this.#watch(key, connect(url.origin, secure ?? {}));
      this.#sessions.set(key, session);
      return session;
    }
    // The tunnel fails with the 502 problem naming the proxy by its origin; the next request tries again.
    const tunnelled: Promise<ClientHttp2Session> = tunnelThrough(
      via,
      unbracketed(url.hostname),
      Number(url.port) || (secure ? 443 : 80),
      secure,
      AbortSignal.timeout(30_000),
    )
      .then((socket) => {
        const session = this.#watch(key, connect(url.origin, { createConnection: () => socket }));
        // From now on the session itself is what is kept, so its closing forgets it.
        if (this.#sessions.get(key) === tunnelled) this.#sessions.set(key, session);
        else session.close();
        return session;
      })
      .catch((error: unknown) => {
        if (this.#sessions.get(key) === tunnelled) this.#sessions.delete(key);
        throw error;
      });
    this.#sessions.set(key, tunnelled);
    return tunnelled;
  }

  /** The client TLS limits, the backend's `tls:` section (CA, client certificate, verification, server name), and ALPN h2. */
  #tlsOptions(url: URL, tls: BackendTlsMaterial | undefined): ConnectionOptions {
    const host = unbracketed(url.hostname);
    // SNI carries a host name, never an address (RFC 6066 §3).
    const servername = tls?.sni ?? (isIP(host) ? undefined : host);
    return {
      ...this.#options.tls,
      ALPNProtocols: ["h2"],
      ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.verify } : {}),
      ...(servername ? { servername } : {}),
    };
  }

  /** Counts a stream opened on `session`. */
  counted(session: ClientHttp2Session): void {
    const usage = this.#usage.get(session);
    if (usage) usage.streams++;
  }

  /** Takes no more requests on `session`: the next one opens a new session; this one closes once its streams are done. */
  retire(session: ClientHttp2Session): void {
    const usage = this.#usage.get(session);
    if (usage && this.#sessions.get(usage.key) === session) this.#sessions.delete(usage.key);
    // After the backend's GOAWAY it closes the connection itself once its streams are done; closing
    // it here too cuts the body of a stream still being received on Deno.
    if (!usage?.goneAway) closeWhenSent(session);
  }

  /** Forgets the session when it fails, closes or is sent GOAWAY; closes it when idle. */
  #watch(key: string, session: ClientHttp2Session): ClientHttp2Session {
    const usage = { key, streams: 0, goneAway: false };
    this.#usage.set(session, usage);
    const forget = () => {
      if (this.#sessions.get(key) === session) this.#sessions.delete(key);
    };
    // Errors reach the requests through their streams; the session is only forgotten here.
    session.on("error", forget);
    session.on("close", forget);
    session.on("goaway", () => {
      usage.goneAway = true;
      forget();
    });
    session.setTimeout(HTTP2_IDLE_MS, () => {
      forget();
      session.close();
    });
    // Idle sessions must not keep the process alive.
    session.unref?.();
    return session;
  }

  /** Closes every session gracefully (open streams finish). */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(all.map((s) => Promise.resolve(s).then((session) => new Promise<void>((resolve) => session.close(() => resolve())), () => {})));
  }
}

/** A URL's host name without the brackets of an IPv6 literal. */
function unbracketed(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, "");
}
