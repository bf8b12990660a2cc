// One OTLP/HTTP POST and what its outcome means for the batch: sent, worth trying again later
// (the collector is away or overloaded), or refused for good. Shared by the direct export path and
// the spool's replayer, so both classify answers the same way.

/** The three OTLP signals, also the names of the spool's directories and of the `/v1/...` paths. */
export type OtlpSignal = "traces" | "metrics" | "logs";

/**
 * What became of one POST. `retry` covers a connection that failed or timed out, a 5xx and a 429
 * (the batch may succeed later); `reject` is any other non-2xx answer (the collector will refuse
 * the same bytes again, so retrying forever would only block the batches behind it).
 */
export type PostOutcome =
  | { kind: "ok"; body: Uint8Array | undefined }
  | { kind: "retry"; reason: string; retryAfterMs: number | undefined }
  | { kind: "reject"; reason: string };

/** The request half of a POST: where, in which encoding, with which headers, for how long. */
export interface PostTarget {
  url: string;
  contentType: string;
  headers: Record<string, string>;
  timeoutMs: number;
  fetch: typeof fetch;
}

/** The content type of each OTLP/HTTP encoding, as the specification names them. */
export const CONTENT_TYPES = { pb: "application/x-protobuf", json: "application/json" } as const;

/**
 * POSTs one serialized export request. Never throws. The reason it gives is built from the status
 * code or the error's name and code only, never from an error message: some runtimes quote a
 * rejected header's value in theirs, and OTLP headers carry credentials.
 */
export async function postOtlp(target: PostTarget, body: Uint8Array): Promise<PostOutcome> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, target.timeoutMs);
  try {
    const response = await target.fetch(target.url, {
      method: "POST",
      headers: { ...target.headers, "content-type": target.contentType },
      body: body as BodyInit,
      signal: controller.signal,
    });
    // Read the body in full so the connection can be reused, and for the partial-success answer.
    const answer = new Uint8Array(await response.arrayBuffer());
    const status = response.status;
    if (status >= 200 && status < 300) return { kind: "ok", body: answer.length > 0 ? answer : undefined };
    if (status === 429 || status >= 500) {
      return { kind: "retry", reason: `status ${status}`, retryAfterMs: retryAfter(response.headers.get("retry-after")) };
    }
    return { kind: "reject", reason: `status ${status}` };
  } catch (error) {
    return { kind: "retry", reason: timedOut ? `timeout after ${target.timeoutMs} ms` : errorReason(error), retryAfterMs: undefined };
  } finally {
    clearTimeout(timer);
  }
}

/** `Retry-After` as milliseconds: delay-seconds or an HTTP date; undefined when absent or invalid. */
export function retryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/**
 * A reason for a failed request made of the error's name and a code that looks like one
 * (`ECONNREFUSED`, `ConnectionRefused`), taken from the error or its cause.
 */
export function errorReason(error: unknown): string {
  const name = error instanceof Error ? error.name : typeof error;
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  const code = codeOf(error) ?? codeOf(cause) ?? codeInMessage(cause) ?? codeInMessage(error);
  return code === undefined ? `request failed (${name})` : `request failed (${name} ${code})`;
}

// Deno's fetch gives no code, only a message ("... tcp connect error: Connection refused (os error
// 111)"). A few phrases map to the usual codes; only the constant is reported, never the message.
const PHRASES: [RegExp, string][] = [
  [/connection refused/i, "ECONNREFUSED"],
  [/connection reset/i, "ECONNRESET"],
  [/timed out/i, "ETIMEDOUT"],
  [/dns error|failed to lookup|name or service not known/i, "ENOTFOUND"],
];

function codeInMessage(value: unknown): string | undefined {
  const message = value instanceof Error ? value.message : undefined;
  if (message === undefined) return undefined;
  for (const [phrase, code] of PHRASES) if (phrase.test(message)) return code;
  return undefined;
}

function codeOf(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const code = (value as { code?: unknown }).code;
  return typeof code === "string" && /^[A-Za-z_][A-Za-z0-9_]{0,40}$/.test(code) ? code : undefined;
}
