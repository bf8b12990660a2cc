import { createHash, randomBytes } from "node:crypto";
import { type ClientRequest, type IncomingMessage, request as httpRequest } from "node:http";
import { isIP } from "node:net";
import { request as httpsRequest } from "node:https";
import type { Duplex } from "node:stream";
import type { BackendTlsMaterial } from "../../config/snapshot/snapshot.ts";
import { HttpProblem } from "../http/problem.ts";
import { clientResponseHeaders } from "../proxy/headers.ts";
import type { WebSocketBackendOptions } from "./connections.ts";
import type { ProxyEndpoint } from "../upstream/egress-proxy.ts";
import { tunnelThrough } from "./tunnel.ts";

/** node:tls options for a backend's `tls:` material (CA, client certificate, verification, server name). */
function tlsMaterial(tls: BackendTlsMaterial | undefined) {
  return tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.verify, ...(tls.sni ? { servername: tls.sni } : {}) } : {};
}

/** The GUID a server appends to the client's key to prove it speaks WebSocket (RFC 6455 §1.3). */
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** The largest body of a backend's refusal passed to the client; a longer one is cut there. */
export const MAX_REFUSAL_BODY = 64 * 1024;

/** `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`. */
export function acceptFor(key: string): string {
  return createHash("sha1").update(key + ACCEPT_GUID).digest("base64");
}

/** The backend accepted: its connection, the bytes it sent after its 101 answer, and the subprotocol it chose. */
export interface OpenBackend {
  readonly kind: "open";
  readonly socket: Duplex;
  readonly head: Uint8Array;
  readonly protocol: string | undefined;
}

/** The backend answered the handshake with something other than 101: that answer, for the client. */
export interface RefusedBackend {
  readonly kind: "refused";
  readonly response: Response;
}

/**
 * Opens a WebSocket connection to a backend before the client's handshake is answered: a GET with
 * `Upgrade: websocket` to the backend's http(s) URL (ws:// and wss:// on the wire), with `headers`
 * (the forwarding headers and the client's `Sec-WebSocket-Protocol`), its own key, and the
 * backend's TLS material on https; through the egress proxy `via` when it applies (a CONNECT tunnel,
 * TLS inside it for https). Resolves with the open connection, or with the backend's
 * refusal (its status, headers and up to MAX_REFUSAL_BODY of its body). An unreachable backend is
 * the 502 problem, one that does not answer within `timeoutMs` the 504 problem, one that answers
 * 101 without a valid `Sec-WebSocket-Accept` or with a subprotocol the client did not ask for 502.
 */
export function openBackend(
  url: string,
  headers: Headers,
  tls: BackendTlsMaterial | undefined,
  timeoutMs: number,
  name: string,
  limits: WebSocketBackendOptions["tls"],
  via?: ProxyEndpoint,
): Promise<OpenBackend | RefusedBackend> {
  const key = randomBytes(16).toString("base64");
  const sent: Record<string, string> = {};
  headers.forEach((value, header) => (sent[header] = value));
  sent["connection"] = "Upgrade";
  sent["upgrade"] = "websocket";
  sent["sec-websocket-version"] = "13";
  sent["sec-websocket-key"] = key;
  const asked = headers.get("sec-websocket-protocol");
  const target = new URL(url);
  const secure = target.protocol === "https:";
  const options = {
    method: "GET",
    headers: sent,
    agent: false as const,
    ...(secure ? limits : {}),
    ...(secure ? tlsMaterial(tls) : {}),
  };
  const origin = target.origin;
  const port = Number(target.port || (secure ? 443 : 80));
  const host = target.hostname.replace(/^\[|\]$/g, "");
  return new Promise((resolve, reject) => {
    // The timeout stops the tunnel (through `aborter`) or the handshake request, whichever is under way.
    const aborter = new AbortController();
    let current: ClientRequest | undefined;
    const timer = setTimeout(() => {
      aborter.abort();
      current?.destroy();
      reject(new HttpProblem("backend-timeout", { internal: `backend "${name}" (${origin}) did not answer the WebSocket handshake within ${timeoutMs} ms` }));
    }, timeoutMs);
    if (!via) return handshake((secure ? httpsRequest : httpRequest)(target, options));
    // Through the egress proxy: the handshake is written on the tunnel (TLS inside it for wss://).
    const { method, headers: sentHeaders } = options;
    const tunnelTls = secure ? { ...(limits ?? {}), ...tlsMaterial(tls), servername: tls?.sni ?? (isIP(host) ? undefined : host) } : undefined;
    tunnelThrough(via, host, port, tunnelTls, aborter.signal).then(
      (socket) =>
        handshake(
          httpRequest({
            host,
            port,
            path: `${target.pathname}${target.search}`,
            method,
            headers: sentHeaders,
            defaultPort: secure ? 443 : 80,
            createConnection: () => socket,
          }),
        ),
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );

    function handshake(request: ClientRequest): void {
      current = request;
      request.on("upgrade", (response: IncomingMessage, socket: Duplex, head: Uint8Array) => {
        clearTimeout(timer);
        const protocol = response.headers["sec-websocket-protocol"];
        const offered = asked ? asked.split(",").map((p) => p.trim()) : [];
        const problem = response.headers["sec-websocket-accept"] !== acceptFor(key)
          ? "a wrong Sec-WebSocket-Accept"
          : protocol !== undefined && !offered.includes(protocol)
          ? `a subprotocol the client did not ask for ("${protocol}")`
          : response.headers["sec-websocket-extensions"] !== undefined
          ? "an extension nobody asked for"
          : undefined;
        if (problem) {
          socket.destroy();
          reject(new HttpProblem("backend-unreachable", { internal: `backend "${name}" (${origin}) accepted the WebSocket handshake with ${problem}` }));
          return;
        }
        resolve({ kind: "open", socket, head, protocol });
      });
      request.on("response", (response: IncomingMessage) => {
        clearTimeout(timer);
        const parts: Buffer[] = [];
        let size = 0;
        const done = () => {
          const headers = new Headers();
          for (const [header, value] of Object.entries(response.headers)) {
            if (value === undefined || header === "content-length" || header === "transfer-encoding") continue;
            for (const v of Array.isArray(value) ? value : [value]) headers.append(header, v);
          }
          const status = response.statusCode ?? 502;
          const body = status === 204 || status === 304 || status < 200 ? null : Buffer.concat(parts);
          resolve({ kind: "refused", response: new Response(body, { status: status < 200 ? 502 : status, headers: clientResponseHeaders(headers) }) });
        };
        response.on("data", (chunk: Buffer) => {
          if (size >= MAX_REFUSAL_BODY) return;
          parts.push(chunk.subarray(0, MAX_REFUSAL_BODY - size));
          size += Math.min(chunk.length, MAX_REFUSAL_BODY - size);
          if (size >= MAX_REFUSAL_BODY) {
            response.destroy();
            done();
          }
        });
        response.on("end", done);
        response.on("error", done);
      });
      request.on("error", (error) => {
        clearTimeout(timer);
        reject(new HttpProblem("backend-unreachable", { internal: `backend "${name}" (${origin}) could not be reached: ${error.message}`, cause: error }));
      });
      request.end();
    }
  });
}
