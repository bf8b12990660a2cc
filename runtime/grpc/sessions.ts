import { type ClientHttp2Session, connect, type SecureClientSessionOptions } from "node:http2";
import type { BackendTlsMaterial } from "../../config/snapshot/build.ts";
import { closeWhenSent, MAX_STREAMS_PER_SESSION } from "../upstream/http2-session.ts";

/** Backend origins with an open session at most; past it the oldest session is closed gracefully. */
export const MAX_UPSTREAM_SESSIONS = 256;

/**
 * HTTP/2 sessions to gRPC backends, one per origin (and TLS material): `http://` origins are h2c
 * with prior knowledge, `https://` ones h2 over TLS with the backend's `tls:` section (CA, client
 * certificate, verification, server name). A session that closes, fails or is sent GOAWAY is
 * forgotten, so the next call connects again; at most MAX_UPSTREAM_SESSIONS are kept. Each call to
 * `session` is taken as one stream: after `maxStreams` of them (a connection has 2^30 stream
 * identifiers) the next call gets a new session and the old one closes once its calls are done.
 */
export class UpstreamSessions {
  readonly #sessions = new Map<string, ClientHttp2Session>();
  readonly #streams = new WeakMap<ClientHttp2Session, number>();
  #closed = false;

  constructor(private readonly maxStreams = MAX_STREAMS_PER_SESSION) {}

  /** The session for a backend URL's origin, connecting when there is none (or it is going away). */
  session(url: URL, tls: BackendTlsMaterial | undefined): ClientHttp2Session {
    if (this.#closed) throw new Error("the gateway is shutting down");
    const key = tls ? `${url.origin} ${tls.fingerprint}` : url.origin;
    const open = this.#sessions.get(key);
    if (open && !open.closed && !open.destroyed) {
      const streams = this.#streams.get(open)! + 1;
      if (streams <= this.maxStreams) {
        this.#streams.set(open, streams);
        return open;
      }
      this.#sessions.delete(key);
      closeWhenSent(open);
    }
    if (this.#sessions.size >= MAX_UPSTREAM_SESSIONS) {
      const [oldestKey, oldest] = this.#sessions.entries().next().value!;
      this.#sessions.delete(oldestKey);
      closeWhenSent(oldest);
    }
    const options: SecureClientSessionOptions = url.protocol === "https:" && tls
      ? { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.verify, servername: tls.sni }
      : {};
    const session = connect(url.origin, options);
    const forget = () => {
      if (this.#sessions.get(key) === session) this.#sessions.delete(key);
    };
    // Errors reach the calls through their streams; the session is only forgotten here.
    session.on("error", forget);
    session.on("close", forget);
    session.on("goaway", forget);
    this.#sessions.set(key, session);
    this.#streams.set(session, 1);
    return session;
  }

  /** Open sessions (for tests and metrics). */
  get size(): number {
    return this.#sessions.size;
  }

  /** Closes every session: gracefully (open streams finish), or at once with `force`. */
  close(force = false): void {
    this.#closed = true;
    for (const session of this.#sessions.values()) {
      if (force) session.destroy();
      else session.close();
    }
    this.#sessions.clear();
  }
}
