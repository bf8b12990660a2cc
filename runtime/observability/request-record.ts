import { randomBytes } from "node:crypto";
import { AccessFields } from "./log.ts";
import type { RequestFacts, RequestMetrics, UpstreamErrorCause } from "./request-metrics.ts";
import type { RequestTrace, Tracing } from "./tracing.ts";

/**
 * What the gateway learns about one request as it goes: filled by the traffic handler and the
 * proxy, then read once for the request metrics, the trace and the access line. One object per
 * request, so the proxy reports the backend it chose and how long it took without a second pass.
 */
export class RequestRecord implements RequestFacts {
  status = 0;
  api: string | undefined = undefined;
  operation: string | undefined = undefined;
  product: string | undefined = undefined;
  subscription: string | undefined = undefined;
  /** The backend's name, once one is called. */
  backend: string | undefined = undefined;
  /** The backend's host (and port), for the access line: never its path or query, which may carry secrets. */
  backendHost: string | undefined = undefined;
  totalMs = 0;
  /** From the backend call to its response headers; -1 while no backend answered. */
  backendMs = -1;
  requestBytes = -1;
  responseBytes = -1;
  /** Why the backend call failed, when it did. */
  upstreamError: UpstreamErrorCause | undefined = undefined;
  /** Policies that failed during this request (their names), when any did. */
  policyFailures: string[] | undefined = undefined;
  /** The request's trace, when tracing is on. */
  trace: RequestTrace | undefined = undefined;

  constructor(
    readonly method: string,
    /** The gateway's id for this request (in the access line). */
    readonly requestId: string,
  ) {}

  /**
   * The request's access line, once its record is complete: where it came from and what it asked
   * for (given here: the handler knows them), then what the record learnt. Plain HTTP and gRPC calls
   * write the same line; `protocol` and `grpcStatus` only for gRPC. Positional arguments, so writing
   * the line allocates nothing but the line itself.
   */
  accessFields(
    clientIp: string,
    host: string,
    scheme: string,
    path: string,
    revision: number | undefined,
    protocol?: string,
    grpcStatus?: number,
  ): AccessFields {
    const backendMs = this.backendMs;
    const fields = new AccessFields();
    fields.traceId = this.trace?.traceId;
    fields.spanId = this.trace?.spanId;
    fields.requestId = this.requestId;
    fields.clientIp = clientIp;
    fields.method = this.method;
    fields.host = host;
    fields.scheme = scheme;
    fields.protocol = protocol;
    fields.path = path;
    fields.status = this.status;
    fields.grpcStatus = grpcStatus;
    fields.ms = round3(this.totalMs);
    fields.backendMs = backendMs >= 0 ? round3(backendMs) : undefined;
    fields.gatewayMs = round3(backendMs >= 0 ? Math.max(0, this.totalMs - backendMs) : this.totalMs);
    fields.bytesIn = this.requestBytes >= 0 ? this.requestBytes : undefined;
    fields.bytesOut = this.responseBytes >= 0 ? this.responseBytes : undefined;
    fields.api = this.api;
    fields.operation = this.operation;
    fields.product = this.product;
    fields.subscription = this.subscription;
    fields.backend = this.backendHost;
    fields.policyFailures = this.policyFailures;
    fields.revision = revision;
    return fields;
  }

  /** Notes a policy that failed (`failure: open` ones too: the request went on without them). */
  policyFailed(policy: string): void {
    (this.policyFailures ??= []).push(policy);
    this.trace?.event("policy.failed", { policy });
  }
}

/** Milliseconds to three decimals (microseconds), as access lines carry them. */
function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) as plain IPv4, as access lines, policies and metrics show clients. */
export function plainIp(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/** What the traffic handler uses to observe requests. */
export interface RequestTelemetry {
  readonly requests: RequestMetrics;
  /** Undefined when traces are off (no OTLP endpoint, or sampling 0). */
  readonly tracing: Tracing | undefined;
  /** A new request id. */
  nextRequestId(): string;
}

/**
 * Request ids unique across processes and restarts, cheap to make: a random prefix per process and a
 * counter (`3f9a1c2e-1b`), rather than 16 random bytes per request.
 */
export function requestIds(): () => string {
  const prefix = `${randomBytes(4).toString("hex")}-`;
  let next = 0;
  return () => prefix + (next++).toString(36);
}
