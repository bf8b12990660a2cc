import type { CipherSuites, TlsVersion } from "../../config/schema/tls.ts";
import type { CertificateSet } from "../tls/certificates.ts";
import type { ClientTlsLimits } from "../tls/limits.ts";
import type { ProxyProtocolOptions } from "./proxy-protocol.ts";
import type { Http2Limits } from "./http2.ts";
import type { UpstreamClient, UpstreamOptions } from "../upstream/client.ts";
import type { EgressProxy } from "../upstream/egress-proxy.ts";
import type { WebSocketConnections } from "../websocket/connections.ts";

/** The JavaScript runtimes Portico runs on. */
export type RuntimeName = "bun" | "deno" | "node";

/**
 * A request handler as the adapters call it: the Fetch API request plus the runtime's own
 * per-request value (Bun's server, Deno's serve info, Node's `{ incoming, outgoing }`), which
 * Hono receives as `c.env` and the adapter knows how to read the client address from.
 */
export type FetchHandler = ((request: Request, env: unknown) => Response | Promise<Response>) & {
  /**
   * Set on the traffic port's handlers (`takingWebSockets`): the listener takes WebSocket
   * handshakes, completes the ones the backend accepted, relays their frames with these settings
   * and tracks the open connections here (docs/protocols.md).
   */
  readonly websockets?: WebSocketConnections;
};

/** What a runtime's TLS listener can honour (measured with openssl s_client; see docs/tls.md). */
export interface TlsCapabilities {
  /** Minimum protocol versions the listener can enforce. */
  readonly minVersions: readonly TlsVersion[];
  /** Whether TLS 1.2 cipher suites can be restricted. */
  readonly restrictTls12Suites: boolean;
  /** Whether TLS 1.3 cipher suites can be restricted. */
  readonly restrictTls13Suites: boolean;
  /** Whether the listener can be capped at TLS 1.2 (how an allow-list without some TLS 1.3 suites is honoured where they cannot be restricted). */
  readonly capAtTls12: boolean;
  /**
   * Where suites cannot be restricted: the suites (IANA names) the runtime offers anyway, measured
   * with openssl s_client and s_server (docs/tls.md). Portico's defaults hold there only if these
   * are among them, and an allow-list is honoured only if it allows all of their TLS 1.2 ones;
   * otherwise the gateway refuses to start. Undefined where suites can be restricted.
   */
  readonly ownSuites?: readonly string[];
}

/** How a runtime's plain HTTP listener bounds the time a client may take to send a request head. */
export type HeaderTimeoutCapability =
  /** Any value of `net.server.timeouts.header` is honoured (node:http's headersTimeout). */
  | { readonly kind: "any" }
  /** The runtime enforces its own timeout and has no setting for it (Bun.serve); connections close between `minMs` and `maxMs`. */
  | { readonly kind: "fixed"; readonly minMs: number; readonly maxMs: number };
/** Who rotates the key that encrypts TLS session tickets on the HTTPS listener (see docs/tls.md). */
export type TicketKeyRotation =
  /** Portico replaces the key on a timer (node:tls `setTicketKeys` works). */
  | "portico"
  /** The runtime's TLS library rotates its own key; Portico cannot set one. */
  | "runtime";

/** What a runtime can do, so callers branch on capabilities, never on the runtime's name. */
export interface Capabilities {
  /** The HTTPS listener's limits. */
  readonly tls: TlsCapabilities;
  /** Who rotates the HTTPS listener's session ticket key. */
  readonly ticketKeys: TicketKeyRotation;
  /** What the upstream client can restrict on TLS connections to backends. */
  readonly upstreamTls: Omit<TlsCapabilities, "minVersions">;
  /** The request-head timeout of the plain HTTP listener. */
  readonly headerTimeout: HeaderTimeoutCapability;
  /** Longest keep-alive idle timeout the plain HTTP listener can apply (Bun.serve: 255 s). */
  readonly maxKeepAliveMs: number;
  /**
   * The request URL keeps the authority of an absolute-form target (`GET http://a.example/x`), so
   * routing can use it as RFC 9112 §3.2.2 asks. Bun.serve rebuilds the URL from `Host` instead.
   */
  readonly absoluteFormAuthority: boolean;
  /**
   * The plain HTTP listener closes a connection, unanswered, when the client pipelines a request
   * behind one whose answer is still pending (Bun.serve). The gateway then holds a non-idempotent
   * request for one turn of the event loop and does not forward it if its connection is gone.
   */
  readonly dropsPipelinedConnections: boolean;
  /**
   * Where the plain listener serves h2c (net.server.http2.cleartext) only with fixed HTTP/2 limits
   * (Bun.serve): those limits; other net.server.http2.* values then stop the gateway at start.
   * Undefined where any limits are honoured.
   */
  readonly plainHttp2Limits?: Http2Limits;
  /**
   * Why the traffic listeners do not offer HTTP/2 to clients on this runtime, where they cannot do
   * it safely (Deno: docs/protocols.md#deno); undefined where they can. The TLS listener then
   * offers HTTP/1.1 only, and `net.server.http2.cleartext` stops the gateway at start.
   */
  readonly http2ServerUnavailable?: string;
}

/** Time limits on client connections, from the `net.server.timeouts.*` settings. */
export interface ConnectionTimeouts {
  /** Longest time from a request's first byte to the end of its head. */
  readonly headerMs: number;
  /** Longest idle time of a kept-alive connection between two requests. */
  readonly keepAliveMs: number;
}

/** TLS for a listener: certificates chosen by SNI and the protocol limits resolved from the settings. */
export interface TlsListenOptions {
  readonly certificates: CertificateSet;
  readonly minVersion: TlsVersion;
  /** Set to `TLSv1.2` when TLS 1.3 must not be offered. */
  readonly maxVersion?: TlsVersion;
  /** The suites to offer (the operator's list or Portico's defaults); undefined leaves the runtime's own. */
  readonly suites?: CipherSuites;
}

/** What a client sent on an HTTPS connection that asked for a certificate. */
export interface PeerCertificate {
  /** The name the client asked for (SNI), which picks the host name's certificate and clientCa. */
  readonly servername: string | undefined;
  /** The client's certificate (DER), undefined when it sent none. */
  readonly der: Uint8Array | undefined;
  /** The other certificates the client sent (DER; intermediates, untrusted until a chain is built from them). */
  readonly chain: readonly Uint8Array[];
}

/** Where and how to listen. */
export interface ListenOptions {
  readonly port: number;
  readonly hostname: string;
  readonly handler: FetchHandler;
  /** HTTPS instead of plain HTTP. */
  readonly tls?: TlsListenOptions;
  /** Time limits on connections; the runtime's defaults when absent (tests of the adapters alone). */
  readonly timeouts?: ConnectionTimeouts;
  /**
   * Offer HTTP/2 with these limits (net.server.http2.*): by ALPN beside HTTP/1.1 on TLS, with prior
   * knowledge (h2c) beside HTTP/1.1 on plain HTTP. HTTP/1.1 only when absent.
   */
  readonly http2?: Http2Limits;
  /**
   * Plain HTTP only: every connection starts with a PROXY protocol header and comes from a trusted
   * proxy (`net.server.http.proxy-protocol`); served by node:http on every runtime.
   */
  readonly proxyProtocol?: ProxyProtocolOptions;
}

/** A listening server. */
export interface RunningServer {
  readonly port: number;
  /** Stops accepting connections; resolves when the listener is closed. In-flight requests finish unless `force`. */
  close(force?: boolean): Promise<void>;
  /** HTTPS listeners: serves new certificates from now on, without dropping a connection. */
  updateCertificates?(certificates: CertificateSet): Promise<void>;
}

/** One runtime's way of serving HTTP and calling backends, behind one interface. */
export interface ServerAdapter {
  readonly runtime: RuntimeName;
  readonly version: string;
  readonly capabilities: Capabilities;
  listen(options: ListenOptions): Promise<RunningServer>;
  /** The client's IP address for a request this adapter delivered. */
  clientAddress(request: Request, env: unknown): string;
  /**
   * Sets how long this request's connection may go without traffic before the listener closes it,
   * where idle time during a request counts against the keep-alive timeout (Bun.serve): raised for
   * a request to a backend allowed to take longer, and set back to the keep-alive timeout once its
   * answer is ready. Absent where the keep-alive timeout runs only between requests.
   */
  setIdleTimeout?(request: Request, env: unknown, ms: number): void;
  /**
   * Why the request's framing must be refused, from what the runtime's parser saw but let through
   * (raw headers, HTTP version), or undefined. Absent where the runtime exposes nothing more.
   */
  rawFramingProblem?(env: unknown): string | undefined;
  /**
   * Where the listener drops pipelined connections (`dropsPipelinedConnections`): waits one turn of
   * the event loop and tells whether this request's connection is gone, so a request whose answer
   * could never be delivered is not forwarded. Absent elsewhere.
   */
  connectionDropped?(request: Request, env: unknown): Promise<boolean>;
  /** On HTTPS listeners that ask for client certificates: the SNI name and the certificates the client sent, if any. */
  peerCertificate(env: unknown): PeerCertificate;
  /**
   * A `fetch` for the gateway's own calls (control plane, validate-jwt keys, OTLP) that also trusts
   * `ca` (PEM) and goes through the egress `proxy` where its decision says so: the runtimes take a
   * private CA and a proxy in different ways. Without either, the global `fetch`.
   */
  createFetch(options: { ca?: string; proxy?: EgressProxy }): typeof fetch;
  /**
   * A client for backends; `tls` restricts what its TLS connections negotiate (net.client.tls.*
   * settings), `options` bounds the pools it keeps (net.client.tls.max-pools) and carries the
   * egress proxy decision.
   */
  createUpstreamClient(tls?: ClientTlsLimits, options?: UpstreamOptions): UpstreamClient;
}
