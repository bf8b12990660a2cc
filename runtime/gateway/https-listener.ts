import type { Logger } from "../observability/log.ts";
import type { ConnectionTimeouts, FetchHandler, RunningServer, ServerAdapter } from "../server/adapter.ts";
import type { CertificateSet } from "../tls/certificates.ts";
import type { ServerTlsLimits } from "../tls/limits.ts";
import type { Http2Limits } from "../server/http2.ts";

/**
 * The gateway's HTTPS listener, which follows the configuration: it opens when a configuration
 * with `hostnames` goes live, takes new certificates when they change (no restart, no dropped
 * connection), and closes when the configuration no longer has any.
 */
export class HttpsListener {
  #server: RunningServer | undefined;
  #fingerprint: string | undefined;

  constructor(
    private readonly adapter: ServerAdapter,
    private readonly port: number,
    private readonly hostname: string,
    private readonly handler: FetchHandler,
    private readonly limits: ServerTlsLimits,
    private readonly timeouts: ConnectionTimeouts,
    private readonly logger: Logger,
    /** Offer HTTP/2 by ALPN with these limits (net.server.http2.enabled); HTTP/1.1 only when undefined. */
    private readonly http2?: Http2Limits,
    /** Why HTTP/2 was asked for (net.server.http2.enabled) but is not offered on this runtime: said once when the listener opens. */
    private readonly http2Withheld?: string,
  ) {}

  /** The bound port, while listening. */
  get boundPort(): number | undefined {
    return this.#server?.port;
  }

  /** Brings the listener in line with a configuration's certificates. Throws if it cannot listen. */
  async update(certificates: CertificateSet | undefined): Promise<void> {
    if (!certificates) {
      if (this.#server) {
        await this.#server.close();
        this.#server = undefined;
        this.#fingerprint = undefined;
        this.logger.info("HTTPS listener closed: the configuration has no hostnames");
      }
      return;
    }
    if (certificates.fingerprint === this.#fingerprint) return;
    if (this.#server) await this.#server.updateCertificates!(certificates);
    else {
      this.#server = await this.adapter.listen({
        port: this.port,
        hostname: this.hostname,
        handler: this.handler,
        tls: { certificates, ...this.limits },
        timeouts: this.timeouts,
        http2: this.http2,
      });
      if (this.http2Withheld) this.logger.warn(this.http2Withheld);
    }
    this.#fingerprint = certificates.fingerprint;
    this.logger.info("HTTPS certificates live", {
      port: this.#server.port,
      hosts: certificates.entries.map((e) => e.host),
      default: certificates.default.host,
      minVersion: this.limits.minVersion,
      maxVersion: this.limits.maxVersion,
      suites: this.limits.suites?.names,
      http2: this.http2 !== undefined,
    });
  }

  /** Stops listening. */
  async close(force = false): Promise<void> {
    await this.#server?.close(force);
  }
}
