/**
 * What a heartbeat may hold, on both sides: the control plane refuses a body larger than
 * MAX_HEARTBEAT_BYTES (413) before parsing it, and a gateway trims what it reports (the problems of a
 * refused configuration can be many and long) so that its heartbeats always fit.
 */

/** Largest heartbeat body the control plane reads, in bytes. */
export const MAX_HEARTBEAT_BYTES = 64 * 1024;

/** Problems of a refused configuration a heartbeat lists at most (the rest are counted in one more line). */
export const MAX_REPORTED_PROBLEMS = 20;

/** Bytes the listed problems take at most in the report's JSON (escapes included). */
const MAX_REPORTED_PROBLEM_BYTES = 32 * 1024;

/** Longest problem or error message a heartbeat carries, in characters (longer ones are cut, with "…"). */
export const MAX_REPORTED_TEXT = 1000;

const encoder = new TextEncoder();

/** A text cut to MAX_REPORTED_TEXT characters. */
export function reportedText(text: string): string {
  return text.length <= MAX_REPORTED_TEXT ? text : `${text.slice(0, MAX_REPORTED_TEXT - 1)}…`;
}

/**
 * Problems as a heartbeat lists them: each cut to MAX_REPORTED_TEXT, at most MAX_REPORTED_PROBLEMS of
 * them and MAX_REPORTED_PROBLEM_BYTES of JSON, and a line that counts the others. With the message
 * cut as well, a report stays well within MAX_HEARTBEAT_BYTES even if every character needs an escape.
 */
export function reportedProblems(problems: readonly string[]): string[] {
  const listed: string[] = [];
  let bytes = 0;
  for (const problem of problems) {
    if (listed.length === MAX_REPORTED_PROBLEMS) break;
    const text = reportedText(problem);
    bytes += encoder.encode(JSON.stringify(text)).length + 1;
    if (bytes > MAX_REPORTED_PROBLEM_BYTES) break;
    listed.push(text);
  }
  if (listed.length < problems.length) listed.push(`… and ${problems.length - listed.length} more`);
  return listed;
}

/**
 * A request body as text, read only while it stays within `limit` bytes: undefined as soon as it is
 * known to be larger (by its Content-Length, or by counting what arrives), and the rest is not read.
 */
export async function textWithin(request: Request, limit: number): Promise<string | undefined> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) {
    await request.body?.cancel().catch(() => {});
    return undefined;
  }
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder().decode(bytes);
}

/** APIs a heartbeat's traffic summary lists at most (the gateway folds the rest into `(other)`). */
export const MAX_HEARTBEAT_APIS = 50;

/** Bytes the traffic summary takes at most in a heartbeat's JSON (with the problems' 32 KiB, a report stays within MAX_HEARTBEAT_BYTES). */
export const MAX_TRAFFIC_BYTES = 16 * 1024;

/** Longest API name a traffic summary lists, in characters (a longer name is counted under `(other)`). */
export const MAX_TRAFFIC_API_NAME = 256;

/** Longest interval a traffic summary may cover, in seconds (one day). */
const MAX_TRAFFIC_INTERVAL_SECONDS = 86_400;

/** Largest latency a traffic summary may report, in milliseconds (one day). */
const MAX_TRAFFIC_MS = 86_400_000;

/** One API's traffic in a heartbeat: requests, errors by class, and latency quantiles in milliseconds. */
export interface ApiTraffic {
  /** The API's name; `(none)` for requests that matched no API, `(other)` for the APIs not listed. */
  readonly name: string;
  readonly requests: number;
  readonly errors4xx: number;
  readonly errors5xx: number;
  /** Median latency, from the gateway's histogram (see runtime/observability/summary.ts). */
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/**
 * The `traffic` field of a heartbeat: what a gateway served since its previous heartbeat. Only
 * APIs with requests are listed, busiest first, at most MAX_HEARTBEAT_APIS of them.
 */
export interface HeartbeatTraffic {
  /** Seconds since the previous summary (or since the gateway started). */
  readonly intervalSeconds: number;
  readonly requests: number;
  readonly errors4xx: number;
  readonly errors5xx: number;
  readonly apis: readonly ApiTraffic[];
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isMs = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value) && value >= 0 && value <= MAX_TRAFFIC_MS;

/**
 * Checks a heartbeat's `traffic` field as the control plane receives it (from a gateway, but
 * possibly old, new or broken): a copy holding only the known fields, or the reason it is refused.
 * Counts must be non-negative integers with errors within requests, latencies finite and at most a
 * day, at most MAX_HEARTBEAT_APIS APIs of distinct names up to MAX_TRAFFIC_API_NAME characters.
 */
export function checkTraffic(value: unknown): { ok: true; traffic: HeartbeatTraffic } | { ok: false; reason: string } {
  const refuse = (reason: string) => ({ ok: false as const, reason });
  if (!value || typeof value !== "object" || Array.isArray(value)) return refuse("traffic is not an object");
  const t = value as Record<string, unknown>;
  const interval = t.intervalSeconds;
  if (typeof interval !== "number" || !(interval > 0) || interval > MAX_TRAFFIC_INTERVAL_SECONDS) {
    return refuse(`intervalSeconds must be a number of seconds above 0 and at most ${MAX_TRAFFIC_INTERVAL_SECONDS}`);
  }
  if (!isCount(t.requests) || !isCount(t.errors4xx) || !isCount(t.errors5xx)) return refuse("requests, errors4xx and errors5xx must be counts");
  if (t.errors4xx + t.errors5xx > t.requests) return refuse("more errors than requests");
  if (!Array.isArray(t.apis)) return refuse("apis is not an array");
  if (t.apis.length > MAX_HEARTBEAT_APIS) return refuse(`more than ${MAX_HEARTBEAT_APIS} APIs`);
  const apis: ApiTraffic[] = [];
  const names = new Set<string>();
  let listed = 0;
  for (const entry of t.apis as unknown[]) {
    if (!entry || typeof entry !== "object" || Array.isArray(entry)) return refuse("an API entry is not an object");
    const a = entry as Record<string, unknown>;
    if (typeof a.name !== "string" || a.name.length === 0 || a.name.length > MAX_TRAFFIC_API_NAME) {
      return refuse(`an API name must be a string of 1 to ${MAX_TRAFFIC_API_NAME} characters`);
    }
    if (names.has(a.name)) return refuse(`API ${JSON.stringify(a.name)} is listed twice`);
    names.add(a.name);
    if (!isCount(a.requests) || a.requests === 0 || !isCount(a.errors4xx) || !isCount(a.errors5xx) || a.errors4xx + a.errors5xx > a.requests) {
      return refuse(`API ${JSON.stringify(a.name)}: requests must be a count above 0, with errors4xx and errors5xx counts within it`);
    }
    if (!isMs(a.p50Ms) || !isMs(a.p99Ms)) return refuse(`API ${JSON.stringify(a.name)}: p50Ms and p99Ms must be milliseconds`);
    listed += a.requests;
    apis.push({ name: a.name, requests: a.requests, errors4xx: a.errors4xx, errors5xx: a.errors5xx, p50Ms: a.p50Ms, p99Ms: a.p99Ms });
  }
  if (listed > t.requests) return refuse("the APIs list more requests than the total");
  return { ok: true, traffic: { intervalSeconds: interval, requests: t.requests, errors4xx: t.errors4xx, errors5xx: t.errors5xx, apis } };
}
