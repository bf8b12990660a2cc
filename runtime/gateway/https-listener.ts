import type { Logger } from "../observability/log.ts";
import type { ConnectionTimeouts, FetchHandler, RunningServer, ServerAdapter } from "../server/adapter.ts";
import type { CertificateSet } from "../tls/certificates.ts";
import type { ServerTlsLimits } from "../tls/limits.ts";

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
    else {this.#server = await this.adapter.listen({
        port: this.port,
        hostname: this.hostname,
        handler: this.handler,
        tls: { certificates, ...this.limits },
        timeouts: this.timeouts,
      });}
    this.#fingerprint = certificates.fingerprint;
    this.logger.info("HTTPS certificates live", {
      port: this.#server.port,
      hosts: certificates.entries.map((e) => e.host),
      default: certificates.default.host,
      minVersion: this.limits.minVersion,
      maxVersion: this.limits.maxVersion,
      suites: this.limits.suites?.names,
    });
  }

  /** Stops listening. */
  async close(force = false): Promise<void> {
    await this.#server?.close(force);
  }
}
