import type { FetchHandler } from "../server/adapter.ts";
import type { OpenBackend } from "./backend.ts";
import type { TlsVersion } from "../../config/schema/tls.ts";
import type { ClientTlsLimits } from "../tls/limits.ts";
import type { EgressProxy } from "../upstream/egress-proxy.ts";

/** What WebSocket backend connections honour of the gateway's client settings. */
export interface WebSocketBackendOptions {
  /** `net.client.tls.*` as the runtime's node:tls takes them: suites (`ciphers`) and a version cap. */
  readonly tls?: { readonly ciphers?: string; readonly maxVersion?: TlsVersion };
  /** The egress proxy decision: a backend it does not exempt is reached through a CONNECT tunnel across the proxy (for ws:// and wss:// alike). */
  readonly proxy?: EgressProxy;
}

/**
 * The node:tls options for `net.client.tls.*` limits: both suite lists where the runtime restricts
 * TLS 1.3 suites, else the TLS 1.2 list alone (as the runtime's own upstream client does).
 */
export function backendTlsOptions(limits: ClientTlsLimits | undefined, restrictsTls13: boolean): WebSocketBackendOptions["tls"] {
  if (!limits) return undefined;
  const lists = limits.suites ? (restrictsTls13 ? [limits.suites.tls13, limits.suites.tls12] : [limits.suites.tls12]) : [];
  const ciphers = lists.filter(Boolean).join(":");
  return { ...(ciphers ? { ciphers } : {}), ...(limits.maxVersion ? { maxVersion: limits.maxVersion } : {}) };
}

/** An open WebSocket connection the gateway relays, as the registry sees it. */
export interface RelayedConnection {
  /** Closes both sides with `code` (a close frame to each, then the connections end). */
  close(code: number, reason: string): void;
}

/**
 * The WebSocket settings and the open connections of a gateway process, given to its listeners.
 * Open connections are tracked here, not on a pipeline: a WebSocket leaves its pipeline once the
 * handshake is done (no policy runs on frames), so configuration swaps never wait for it.
 */
export class WebSocketConnections {
  readonly #open = new Set<RelayedConnection>();

  constructor(
    /** `net.server.websocket.idle-timeout`: a connection with no frame either way for this long is closed with 1001. */
    readonly idleMs: number,
    /** `net.server.websocket.max-message-bytes`: a longer message closes the connection with 1009. */
    readonly maxMessageBytes: number,
    /** How backend connections are made: the client TLS limits and the egress proxy decision. */
    readonly backends: WebSocketBackendOptions = {},
  ) {}

  /** Open WebSocket connections now (the `portico_websocket_connections` gauge). */
  get size(): number {
    return this.#open.size;
  }

  add(connection: RelayedConnection): void {
    this.#open.add(connection);
  }

  delete(connection: RelayedConnection): void {
    this.#open.delete(connection);
  }

  /** Closes every open connection with `code` (shutdown: 1001). */
  closeAll(code: number, reason: string): void {
    for (const connection of [...this.#open]) connection.close(code, reason);
  }
}

/** The backend connections opened for accepted handshakes, by the client's request, until the listener takes them. */
const accepted = new WeakMap<Request, OpenBackend>();

/** Records that the handshake of `request` was accepted by its backend: the listener completes it with the client. */
export function acceptUpgrade(request: Request, backend: OpenBackend): void {
  accepted.set(request, backend);
}

/** The backend connection accepted for `request`, if its handshake was accepted; the caller now owns it. */
export function takeUpgrade(request: Request): OpenBackend | undefined {
  const backend = accepted.get(request);
  if (backend) accepted.delete(request);
  return backend;
}

/** True for a WebSocket handshake (RFC 6455 §4.1): a GET whose `Upgrade` names `websocket`. */
export function isWebSocketUpgrade(request: Request): boolean {
  if (request.method !== "GET") return false;
  const upgrade = request.headers.get("upgrade");
  return upgrade !== null && /(^|,)\s*websocket\s*(,|$)/i.test(upgrade);
}

/** True when the backend accepted the handshake of `request` and the listener has not taken it yet. */
export function upgradeAccepted(request: Request): boolean {
  return accepted.has(request);
}

/** The traffic handler marked as taking WebSocket handshakes (the listeners relay them; see FetchHandler). */
export function takingWebSockets(handler: (request: Request, env: unknown) => Response | Promise<Response>, connections: WebSocketConnections): FetchHandler {
  return Object.assign((request: Request, env: unknown) => handler(request, env), { websockets: connections });
}
