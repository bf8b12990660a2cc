import { Agent, fetch as undiciFetch } from "undici";

/**
 * A `fetch` (undici's) that trusts a private CA besides the system's, for Node and Deno, whose
 * global `fetch` takes no per-call CA. Used for the gateway's own calls, never on the request path.
 */
export function fetchTrusting(ca: string | undefined): typeof fetch {
  if (!ca) return fetch;
  const dispatcher = new Agent({ connect: { ca } });
  return ((input: RequestInfo | URL, init?: RequestInit) =>
    undiciFetch(input as never, { ...(init as object), dispatcher } as never)) as unknown as typeof fetch;
}
