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
