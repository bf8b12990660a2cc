/** Stable causes of the errors the gateway itself produces; each maps to one `type` URI and status. */
export const PROBLEMS = {
  "no-route": { status: 404, title: "No API or operation matches this request" },
  "method-not-allowed": { status: 405, title: "The operation does not accept this method" },
  "not-ready": { status: 503, title: "The gateway has no configuration yet" },
  "backend-unreachable": { status: 502, title: "The backend could not be reached" },
  "backend-timeout": { status: 504, title: "The backend did not answer in time" },
  "policy-failed": { status: 500, title: "A policy failed while handling the request" },
  "bad-request": { status: 400, title: "The request is malformed" },
  "request-timeout": { status: 408, title: "The request was not received in time" },
  "backend-busy": { status: 503, title: "The backend is at its concurrency limit" },
  "payload-too-large": { status: 413, title: "The request body is larger than this API accepts" },
  "backend-response-too-large": { status: 502, title: "The backend's response is larger than a policy of this API may read" },
  "buffers-full": { status: 503, title: "The gateway is buffering as many bodies as it may; try again shortly" },
  "internal": { status: 500, title: "The gateway failed to handle the request" },
} as const;

/** A cause of a gateway-produced error. */
export type ProblemKind = keyof typeof PROBLEMS;

/** The `type` URI of a cause, stable across versions so clients and dashboards can rely on it. */
export function problemType(kind: ProblemKind): string {
  return `urn:portico:problem:${kind}`;
}

/** Optional parts of a problem. */
export interface ProblemOptions {
  /** Safe, client-facing explanation (RFC 9457 `detail`). */
  readonly detail?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** What went wrong inside, for the gateway's logs only; never sent to the client. */
  readonly internal?: string;
  readonly cause?: unknown;
}

/**
 * The one error type for HTTP failures produced by the gateway. Thrown anywhere in request
 * handling and turned into an RFC 9457 `application/problem+json` response, never leaking internals.
 */
export class HttpProblem extends Error {
  readonly status: number;
  readonly detail: string | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;

  constructor(
    readonly kind: ProblemKind,
    options: ProblemOptions = {},
  ) {
    super(options.internal ?? options.detail ?? PROBLEMS[kind].title, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HttpProblem";
    this.status = PROBLEMS[kind].status;
    this.detail = options.detail;
    this.headers = options.headers;
  }

  /** The problem+json response for this error. */
  toResponse(): Response {
    const body: Record<string, unknown> = { type: problemType(this.kind), title: PROBLEMS[this.kind].title, status: this.status };
    if (this.detail) body.detail = this.detail;
    return new Response(JSON.stringify(body), {
      status: this.status,
      headers: { "content-type": "application/problem+json", "cache-control": "no-store", ...this.headers },
    });
  }
}
