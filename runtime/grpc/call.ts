import { type ClientHttp2Stream, constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { presentedKey } from "../access/subscriptions.ts";
import { HttpProblem, PROBLEMS } from "../http/problem.ts";
import type { TrustedProxies } from "../http/forwarded.ts";
import { isValidAuthority } from "../http/target.ts";
import type { Logger } from "../observability/log.ts";
import { plainIp, RequestRecord, type RequestTelemetry } from "../observability/request-record.ts";
import { upstreamErrorCause } from "../observability/request-metrics.ts";
import type { TrafficSummary } from "../observability/summary.ts";
import type { BackendPool } from "../pipeline/backend.ts";
import type { Chains, Pipeline, PipelineHolder } from "../pipeline/pipeline.ts";
import { chosenBackend } from "../proxy/exchange.ts";
import { applyDeferred, type PolicyExchange, type PolicyReply } from "../policy/abi.ts";
import type { PolicyReporting } from "../policy/chain.ts";
import type { PolicyStateStore } from "../policy/state.ts";
import { type ClientFacts, upstreamRequestHeaders } from "../proxy/headers.ts";
import { parseGrpcTimeout } from "./deadline.ts";
import { isGrpcPath } from "./path.ts";
import type { UpstreamSessions } from "./sessions.ts";
import { encodeGrpcMessage, GrpcStatus, grpcStatusForHttp, grpcStatusForReset } from "./status.ts";

/** What a gRPC call needs from the rest of the gateway. */
export interface GrpcDeps {
  readonly holder: PipelineHolder;
  /** Policy logging, accounting and the cap on buffered bodies. */
  readonly reporting: PolicyReporting;
  readonly logger: Logger;
  /** Request metrics and ids (the same record as HTTP requests). */
  readonly telemetry: RequestTelemetry;
  /** The gateway's policy state store (counters, concurrency slots). */
  readonly state: PolicyStateStore;
  /** Sessions to gRPC backends, shared by every call of the listener. */
  readonly sessions: UpstreamSessions;
  /** Proxies whose forwarding headers name the client; absent when none is trusted. */
  readonly trustedProxies?: TrustedProxies;
  /** Per-API traffic for the control plane's fleet view; absent in standalone mode. */
  readonly summary?: TrafficSummary;
}

/** Longest `grpc-message` the gateway makes from a policy's answer, in characters. */
const MAX_MESSAGE = 512;

/** Request headers never copied to the backend stream (the gateway sets its own pseudo headers and `te`). */
const NOT_FORWARDED = new Set(["host", "te", "content-length", "http2-settings"]);

/** The request's headers without pseudo headers, as the policies and the forwarding code take them. */
function plainHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const name in incoming) {
    if (name.charCodeAt(0) === 58) continue; // ":"
    const value = incoming[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) { for (const v of value) headers.append(name, v); }
    else headers.set(name, String(value));
  }
  return headers;
}

/** A response header or trailer block to pass on: the backend's, without pseudo headers other than `:status`. */
function passedOn(incoming: IncomingHttpHeaders, keepStatus: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    if (name.charCodeAt(0) === 58 && !(keepStatus && name === ":status")) continue;
    out[name] = incoming[name];
  }
  return out;
}

/** The text of a policy's answer: a problem+json body's `detail` (else `title`), any other body as it is. */
function replyText(reply: PolicyReply): string {
  if (!(reply.headers.get("content-type") ?? "").includes("json")) return reply.body;
  try {
    const problem = JSON.parse(reply.body) as { detail?: unknown; title?: unknown };
    const text = problem.detail ?? problem.title;
    return typeof text === "string" ? text : reply.body;
  } catch {
    return reply.body;
  }
}

/**
 * One gRPC call on the gRPC listener: routed, checked and run through the inbound policies like an
 * HTTP request, then relayed to the API's backend over HTTP/2 with both directions piped (the
 * stream's flow control is the backpressure: nothing is buffered beyond a stream window), the
 * backend's headers, messages and trailers passed through as they are. Whatever the gateway
 * answers itself is a trailers-only gRPC response (`grpc-status`, `grpc-message`).
 */
export class GrpcCall {
  readonly #deps: GrpcDeps;
  readonly #stream: ServerHttp2Stream;
  readonly #headers: IncomingHttpHeaders;
  readonly #started = performance.now();
  readonly #record: RequestRecord;
  #path = "";
  #authority = "";
  #clientIp = "";
  #upstream: ClientHttp2Stream | undefined;
  #backend: BackendPool | undefined;
  #gated = false;
  #exchange: PolicyExchange | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The trailers to send once the response body is done (the backend's, or the gateway's status). */
  #trailers: OutgoingHttpHeaders | undefined;
  /** The gateway has decided the call's outcome (answered, or set the trailers). */
  #decided = false;
  #grpcStatus: string | undefined;
  #pipeline: Pipeline | undefined;
  #left = false;
  /** The call has been counted and logged (#closed ran). */
  #ended = false;
  #onEnd: (() => void) | undefined;

  constructor(deps: GrpcDeps, stream: ServerHttp2Stream, headers: IncomingHttpHeaders) {
    this.#deps = deps;
    this.#stream = stream;
    this.#headers = headers;
    this.#record = new RequestRecord(String(headers[":method"] ?? ""), deps.telemetry.nextRequestId());
  }

  /**
   * Handles the call to its end; never throws (every failure becomes a gRPC status). `onEnd` is
   * called once the call has been counted and logged.
   */
  start(onEnd?: () => void): void {
    this.#onEnd = onEnd;
    const stream = this.#stream;
    this.#deps.telemetry.requests.active += 1;
    stream.on("error", () => {}); // a client reset: handled by "close"
    stream.on("close", () => this.#closed());
    stream.on("wantTrailers", () => {
      const trailers = this.#trailers ?? { "grpc-status": String(GrpcStatus.INTERNAL), "grpc-message": "the backend ended the call without a status" };
      this.#grpcStatus ??= String(trailers["grpc-status"] ?? "");
      try {
        stream.sendTrailers(trailers);
      } catch {
        // the client went away meanwhile
      }
    });
    this.#run().catch((error: unknown) => this.#failWith(error));
  }

  async #run(): Promise<void> {
    const { holder, state, trustedProxies, reporting } = this.#deps;
    const headers = this.#headers;
    const stream = this.#stream;
    const path = String(headers[":path"] ?? "");
    this.#path = path;
    this.#authority = String(headers[":authority"] ?? headers.host ?? "");
    const contentType = String(headers["content-type"] ?? "");
    if (
      headers[":method"] !== "POST" ||
      !(contentType === "application/grpc" || contentType.startsWith("application/grpc+") || contentType.startsWith("application/grpc;"))
    ) {
      this.#decided = true;
      stream.respond({ ":status": 415 }, { endStream: true });
      this.#record.status = 415;
      return;
    }
    if (!isGrpcPath(path)) {
      this.#answer(GrpcStatus.UNIMPLEMENTED, "The path is not a gRPC method path (/package.Service/Method).");
      return;
    }
    if (!isValidAuthority(this.#authority)) {
      throw new HttpProblem("bad-request", { detail: "The :authority must be a host name or address with an optional port." });
    }
    const search = "";
    const peer = plainIp(stream.session?.socket?.remoteAddress ?? "");
    const incoming = plainHeaders(headers);
    const client: ClientFacts = trustedProxies
      ? trustedProxies.client(peer, incoming, "http", this.#authority)
      : { ip: peer, proto: "http", host: this.#authority };
    this.#clientIp = client.ip;
    const pipeline = holder.current;
    if (!pipeline) throw new HttpProblem("not-ready");
    pipeline.enter();
    this.#pipeline = pipeline;
    const route = pipeline.router.match(this.#authority, "POST", path);
    if ("miss" in route) {
      this.#answer(GrpcStatus.UNIMPLEMENTED, `no API serves ${path}`);
      return;
    }
    const record = this.#record;
    record.api = route.api.name;
    record.operation = route.operation?.name;
    const target = route.api.target;
    let forwardedSearch = search;
    let keyHeader: string | undefined;
    let caller;
    if (pipeline.checksKeys) {
      const presented = presentedKey(target.api, incoming, search);
      forwardedSearch = presented.search;
      if (presented.key !== undefined && incoming.has(target.api.access.header)) keyHeader = target.api.access.header;
      caller = pipeline.keys.check(target.api, presented.key, Date.now());
    }
    const product = caller?.product;
    record.product = product;
    record.subscription = caller?.subscription?.name;
    const chains: Chains = route.operation
      ? ((product && target.operationProductChains[route.operation.index]!.get(product)) || target.operationChains[route.operation.index]!)
      : ((product && target.productChains.get(product)) || target.chains);
    if (chains.request.readsBody || chains.response.readsBody) {
      throw new HttpProblem("internal", {
        detail: "A policy of this API reads the message body, which gRPC calls do not offer to policies.",
        internal: `API "${route.api.name}": a policy with body access applies to a gRPC call; gRPC calls offer headers only (docs/protocols.md)`,
      });
    }
    const upstreamHeaders = upstreamRequestHeaders(incoming, client);
    if (keyHeader) upstreamHeaders.delete(keyHeader);
    let backend = target.backend;
    let rest = route.rest;
    let restSearch = forwardedSearch;
    if (chains.request.length || chains.response.length) {
      const exchange: PolicyExchange = {
        method: "POST",
        path,
        requestHeaders: upstreamHeaders,
        responseHeaders: undefined,
        rest,
        search: forwardedSearch,
        params: route.params,
        clientIp: client.ip,
        api: route.api.name,
        operation: route.operation?.name,
        subscription: caller?.subscription,
        product,
        backends: pipeline.backends,
        logger: reporting.logger,
        state,
        record,
      };
      this.#exchange = exchange;
      if (chains.request.length) {
        await chains.request.run(exchange, reporting);
        if (exchange.reply) {
          this.#answerReply(exchange.reply);
          return;
        }
      }
      rest = exchange.rest!;
      restSearch = exchange.search!;
      backend = chosenBackend(exchange, pipeline.backends, pipeline.urlBackends, backend);
    }
    if (stream.closed || stream.destroyed) return;
    await this.#forward(backend, rest, restSearch, upstreamHeaders, chains);
  }

  /** Calls the backend and relays the call both ways (see the class comment). */
  async #forward(backend: BackendPool, rest: string, search: string, headers: Headers, chains: Chains): Promise<void> {
    const stream = this.#stream;
    const record = this.#record;
    const breaker = backend.breaker;
    const probe = breaker === undefined ? false : breaker.admit();
    const waiting = backend.gate.enter();
    if (waiting) {
      try {
        await waiting;
      } catch (error) {
        breaker?.abandon(probe);
        throw error;
      }
    }
    if (stream.closed || stream.destroyed) {
      // The client went away while the call waited for a place.
      backend.gate.leave();
      breaker?.abandon(probe);
      return;
    }
    this.#backend = backend;
    this.#gated = true;
    const url = new URL(backend.target(rest, search));
    record.backend = backend.name;
    record.backendHost = url.host;
    const out: OutgoingHttpHeaders = {
      ":method": "POST",
      ":scheme": url.protocol === "https:" ? "https" : "http",
      ":authority": url.host,
      ":path": url.pathname + url.search,
      te: "trailers",
    };
    for (const [name, value] of headers) if (!NOT_FORWARDED.has(name)) out[name] = value;
    // The deadline: passed on as it came, and enforced here too.
    const timeoutMs = parseGrpcTimeout(this.#headers["grpc-timeout"] as string | undefined);
    if (timeoutMs !== undefined) {
      this.#timer = setTimeout(() => {
        this.#answer(GrpcStatus.DEADLINE_EXCEEDED, "Deadline exceeded at the gateway");
      }, Math.max(1, Math.ceil(timeoutMs)));
    }
    const called = performance.now();
    let upstream: ClientHttp2Stream;
    try {
      upstream = this.#deps.sessions.session(url, backend.tls).request(out, { endStream: false });
    } catch (error) {
      breaker?.failed(probe, upstreamErrorCause(error));
      record.upstreamError = upstreamErrorCause(error);
      this.#answer(GrpcStatus.UNAVAILABLE, `The backend could not be reached.`);
      this.#deps.logger.warn("gRPC backend could not be reached", { backend: backend.name, origin: url.origin, reason: String(error) });
      return;
    }
    this.#upstream = upstream;
    let responded = false;
    /** The breaker has been told how this call went (each admitted call reports once). */
    let reported = false;
    upstream.on("response", (responseHeaders) => {
      responded = true;
      reported = true;
      const status = Number(responseHeaders[":status"]);
      record.backendMs = performance.now() - called;
      backend.observe(url.href, status);
      if (breaker) breaker.respond(probe, status, plainHeaders(responseHeaders));
      this.#relayResponse(upstream, responseHeaders, chains).catch((error: unknown) => this.#failWith(error));
    });
    upstream.on("trailers", (trailers) => {
      this.#trailers = passedOn(trailers, false);
    });
    upstream.on("error", (error: NodeJS.ErrnoException) => {
      if (responded || this.#decided) return; // after the response: handled on close, from the reset code
      const cause = upstreamErrorCause(error);
      record.upstreamError = cause;
      backend.observe(url.href, undefined);
      reported = true;
      breaker?.failed(probe, cause);
      this.#deps.logger.warn("gRPC backend could not be reached", { backend: backend.name, origin: url.origin, reason: error.code ?? error.message });
      this.#answer(GrpcStatus.UNAVAILABLE, "The backend could not be reached.");
    });
    upstream.on("close", () => {
      if (!reported) {
        reported = true;
        // Cancelled by the gateway (deadline, client gone) before an answer: no outcome about the backend.
        if (this.#decided) breaker?.abandon(probe);
        else breaker?.failed(probe, "reset");
      }
      if (this.#decided) return;
      if (!responded) {
        this.#answer(GrpcStatus.UNAVAILABLE, "The backend closed the call before answering.");
      } else if (upstream.rstCode !== undefined && upstream.rstCode !== constants.NGHTTP2_NO_ERROR && this.#trailers === undefined) {
        this.#answer(grpcStatusForReset(upstream.rstCode), `The backend reset the call (HTTP/2 error ${upstream.rstCode}).`);
      }
    });
    // The client's messages go to the backend as they come, with the backend's flow control.
    stream.pipe(upstream);
  }

  /** Passes the backend's response headers on (through the outbound policies), then its messages and trailers. */
  async #relayResponse(upstream: ClientHttp2Stream, responseHeaders: IncomingHttpHeaders, chains: Chains): Promise<void> {
    const stream = this.#stream;
    let out = passedOn(responseHeaders, true);
    const exchange = this.#exchange;
    if (exchange && (chains.response.length || exchange.deferred)) {
      const changed = plainHeaders(responseHeaders);
      if (exchange.deferred) applyDeferred(changed, exchange.deferred);
      exchange.status = Number(responseHeaders[":status"]);
      if (chains.response.length) {
        exchange.responseHeaders = changed;
        await chains.response.run(exchange, this.#deps.reporting);
        if (exchange.reply) {
          this.#answerReply(exchange.reply);
          return;
        }
      }
      out = { ":status": responseHeaders[":status"] };
      for (const [name, value] of exchange.responseHeaders ?? changed) out[name] = value;
    }
    this.#leavePipeline();
    if (this.#decided || stream.closed || stream.destroyed) return;
    if (responseHeaders["grpc-status"] !== undefined) {
      // Trailers-only: the status is in the headers and nothing follows.
      this.#decided = true;
      this.#grpcStatus = String(responseHeaders["grpc-status"]);
      stream.respond(out, { endStream: true });
      upstream.resume();
      return;
    }
    stream.respond(out, { waitForTrailers: true });
    upstream.pipe(stream, { end: false });
    upstream.on("end", () => {
      if (this.#decided) return;
      this.#decided = true;
      stream.end();
    });
  }

  /** Ends the call with a status of the gateway's own: trailers-only if nothing was sent yet, else as the trailers. */
  #answer(code: number, message: string): void {
    if (this.#decided) return;
    this.#decided = true;
    this.#grpcStatus = String(code);
    const stream = this.#stream;
    const upstream = this.#upstream;
    if (upstream && !upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
    if (stream.closed || stream.destroyed) return;
    const status = { "grpc-status": String(code), "grpc-message": encodeGrpcMessage(message) };
    if (!stream.headersSent) {
      stream.respond({ ":status": 200, "content-type": "application/grpc", ...status }, { endStream: true });
      return;
    }
    this.#trailers = status;
    upstream?.unpipe(stream);
    if (!stream.writableEnded) stream.end();
  }

  /** A policy's answer as a gRPC status: its HTTP status mapped, its text (short, single line) as the message (a problem's detail, else title). */
  #answerReply(reply: PolicyReply): void {
    const text = replyText(reply).replace(/\s+/g, " ").trim().slice(0, MAX_MESSAGE);
    this.#answer(grpcStatusForHttp(reply.status), text || `A policy answered with HTTP status ${reply.status}.`);
  }

  /** A failure while handling the call: an HttpProblem by its status and detail, anything else INTERNAL (logged). */
  #failWith(error: unknown): void {
    const { logger } = this.#deps;
    if (error instanceof HttpProblem) {
      if (error.status >= 500) logger.warn(error.message, { problem: error.kind, path: this.#path });
      this.#answer(grpcStatusForHttp(error.status), error.detail || PROBLEMS[error.kind].title);
      return;
    }
    logger.error("unhandled error while handling a gRPC call", { path: this.#path, error: error instanceof Error ? error.stack : String(error) });
    this.#answer(GrpcStatus.INTERNAL, PROBLEMS.internal.title);
  }

  #leavePipeline(): void {
    if (this.#left) return;
    this.#left = true;
    this.#pipeline?.leave();
  }

  /**
   * Counts and logs the call now if its stream has not reported closing: the listener's shutdown,
   * once the connections are gone, so that no call is left uncounted or unlogged when the process
   * exits (on Bun a stream's 'close' may come after its connection's, or not at all).
   */
  end(): void {
    this.#closed();
  }

  /** The client's stream is closed (ended, reset or cancelled): the backend's is cancelled, the call counted and logged. */
  #closed(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    const upstream = this.#upstream;
    if (upstream && !upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
    if (!this.#decided) {
      this.#decided = true;
      this.#grpcStatus ??= String(GrpcStatus.CANCELLED);
    }
    this.#leavePipeline();
    if (this.#gated) this.#backend!.gate.leave();
    if (this.#exchange?.releases) { for (const release of this.#exchange.releases) release(); }
    const { telemetry, logger, summary } = this.#deps;
    const record = this.#record;
    telemetry.requests.active -= 1;
    if (record.status === 0) record.status = 200;
    record.totalMs = performance.now() - this.#started;
    telemetry.requests.record(record);
    summary?.record(record.api, record.status, record.totalMs);
    if (record.upstreamError !== undefined && record.backend !== undefined) telemetry.requests.upstreamFailed(record.backend, record.upstreamError);
    if (logger.format !== "none") {
      const grpcStatus = this.#grpcStatus === undefined ? undefined : Number(this.#grpcStatus);
      logger.access(record.accessFields(this.#clientIp, this.#authority, "http", this.#path, this.#pipeline?.appliedRevision, "grpc", grpcStatus));
    }
    this.#onEnd?.();
  }
}
