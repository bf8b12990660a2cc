/**
 * Every RFC 9457 problem response Portico sends is built here: the gateway's own errors
 * (HttpProblem), the control plane's API (`control-plane/api.ts`) and, through the policy ABI's
 * `portico_reply_problem`, the problems policies answer with (the SDK's `problem()`). One shape
 * everywhere: `type` is `urn:portico:problem:<kind>`, then `title`, `status`, `detail` when there
 * is one and any extension members; `content-type: application/problem+json` and
 * `cache-control: no-store` (an error answer is about this request and must not be reused).
 */

/** The prefix of every problem `type` Portico sends; the kind follows it, and the URI stays stable across versions so clients and dashboards can rely on it. */
const PROBLEM_TYPE_PREFIX = "urn:portico:problem:";

/** The headers every problem response carries, before the problem's own. */
const PROBLEM_HEADERS: Readonly<Record<string, string>> = { "content-type": "application/problem+json", "cache-control": "no-store" };

/** One problem to answer with, whoever answers it. */
export interface ProblemDetails {
  /** The cause: the last part of the `type` URI (`no-route`, `control-plane:unauthorized`, a policy's `rate-limited`). */
  readonly kind: string;
  /** A short summary of the cause, the same for every occurrence of it. */
  readonly title: string;
  /** The HTTP status, repeated in the body as RFC 9457 asks. */
  readonly status: number;
  /** A client-facing explanation of this occurrence; left out when undefined (an empty string is sent as given). */
  readonly detail?: string;
  /**
   * Extension members for clients to act on (the control plane's `reason`), after the standard
   * ones; they cannot replace `type`, `title`, `status` or `detail`.
   */
  readonly extensions?: Readonly<Record<string, unknown>> & { readonly type?: never; readonly title?: never; readonly status?: never; readonly detail?: never };
  /** Headers besides the problem+json ones (`WWW-Authenticate`, `Retry-After`); they may override those too. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The problem+json body of a problem: the standard members in RFC 9457's order, then its extension members. */
export function problemBody(problem: ProblemDetails): string {
  const body: Record<string, unknown> = { type: PROBLEM_TYPE_PREFIX + problem.kind, title: problem.title, status: problem.status };
  if (problem.detail !== undefined) body.detail = problem.detail;
  for (const [name, value] of Object.entries(problem.extensions ?? {})) {
    if (!Object.hasOwn(body, name) && name !== "detail") body[name] = value;
  }
  return JSON.stringify(body);
}

/** The headers of a problem response: problem+json, no-store, then the problem's own. */
export function problemHeaders(problem: ProblemDetails): Headers {
  const headers = new Headers(PROBLEM_HEADERS);
  for (const [name, value] of Object.entries(problem.headers ?? {})) headers.set(name, value);
  return headers;
}

/** The response for a problem. */
export function problemResponse(problem: ProblemDetails): Response {
  return new Response(problemBody(problem), { status: problem.status, headers: problemHeaders(problem) });
}

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
  "backend-circuit-open": { status: 503, title: "The backend's circuit breaker is open: it is failing and is not being called" },
  "backend-error-status": { status: 502, title: "The backend answered with an error status" },
  "payload-too-large": { status: 413, title: "The request body is larger than this API accepts" },
  "header-fields-too-large": { status: 431, title: "The request's header fields are larger than this listener accepts" },
  "backend-response-too-large": { status: 502, title: "The backend's response is larger than a policy of this API may read" },
  "buffers-full": { status: 503, title: "The gateway is buffering as many bodies as it may; try again shortly" },
  "internal": { status: 500, title: "The gateway failed to handle the request" },
  "shared-state-unavailable": { status: 503, title: "The shared counters of a policy are unavailable; try again shortly" },
  // Subscription keys (docs/consumers.md): APIM's wording.
  "subscription-key-missing": {
    status: 401,
    title: "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.",
  },
  "subscription-key-invalid": {
    status: 401,
    title: "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.",
  },
  "subscription-suspended": { status: 403, title: "Access denied: the subscription is suspended." },
  "subscription-cancelled": { status: 403, title: "Access denied: the subscription is cancelled." },
  "subscription-expired": { status: 403, title: "Access denied: the subscription has expired." },
  "product-not-published": { status: 403, title: "Access denied: the subscription's product is not published." },
} as const;

/** A cause of a gateway-produced error. */
export type ProblemKind = keyof typeof PROBLEMS;

/** Optional parts of a problem. */
export interface ProblemOptions {
  /** Safe, client-facing explanation (RFC 9457 `detail`). */
  readonly detail?: string;
  /** Headers for the answer besides the problem+json ones (`Retry-After`). */
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

  /**
   * The problem+json response for this error (an empty detail is left out), with the request's
   * trace id as the `traceId` member when it has one, so a client's report can be found in the traces.
   */
  toResponse(traceId?: string): Response {
    return problemResponse({
      kind: this.kind,
      title: PROBLEMS[this.kind].title,
      status: this.status,
      detail: this.detail || undefined,
      headers: this.headers,
      extensions: traceId === undefined ? undefined : { traceId },
    });
  }
}
