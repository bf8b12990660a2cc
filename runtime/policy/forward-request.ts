/**
 * The `forward-request` built-in (docs/resilience.md): a host step that leaves instructions for
 * the backend call on the exchange (`exchange.forwarding`), which the proxy honours
 * (runtime/proxy/proxy.ts): a timeout of its own, following redirects, a buffered response, and
 * error statuses turned into a gateway error that runs on-error. `buffer-request-body` makes the
 * chain read the client's body before the call (the step's body access), so a retry can send it again.
 */
import type { PolicyExchange } from "./abi.ts";
import type { BodyLimits } from "./body.ts";
import type { ChainStep, FailureMode } from "./chain.ts";

/** Largest body forward-request buffers (request or response): the limit of bodies policies read. */
export const MAX_BUFFERED_BODY = 1024 * 1024;

/** Redirects followed at most for one call (`follow-redirects`). */
export const MAX_REDIRECTS = 5;

/** What the proxy does differently for one backend call; made once per step, shared by its requests. */
export interface ForwardPlan {
  /** Time allowed for response headers instead of the backend's `timeout`; undefined: the backend's. */
  readonly timeoutMs: number | undefined;
  /** Follow same-origin 301, 302, 303, 307 and 308 answers to GET and HEAD, up to MAX_REDIRECTS. */
  readonly followRedirects: boolean;
  /** Read the whole response (up to MAX_BUFFERED_BODY) before answering. */
  readonly bufferResponse: boolean;
  /** A 4xx or 5xx answer becomes the 502 `backend-error-status` problem (and runs on-error). */
  readonly failOnErrorStatus: boolean;
}

/** The forward-request step: sets the exchange's forwarding plan (a later one in the chain replaces it). */
export class ForwardRequestStep implements ChainStep {
  readonly body: BodyLimits | undefined;
  readonly #plan: ForwardPlan;

  constructor(readonly name: string, readonly failure: FailureMode, config: Readonly<Record<string, string>>) {
    this.body = config["buffer-request-body"] === "true" ? { request: MAX_BUFFERED_BODY, response: 0 } : undefined;
    this.#plan = Object.freeze({
      timeoutMs: config.timeout === undefined ? undefined : Number(config.timeout),
      followRedirects: config["follow-redirects"] === "true",
      bufferResponse: config["buffer-response"] === "true",
      failOnErrorStatus: config["fail-on-error-status-code"] === "true",
    });
  }

  has(hook: string): boolean {
    return hook === "on_request";
  }

  call(_hook: string, exchange: PolicyExchange): Promise<void> {
    exchange.forwarding = this.#plan;
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
