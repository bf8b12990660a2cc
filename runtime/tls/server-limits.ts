import type { Settings } from "../../config/schema/settings.ts";
import { resolveCipherSuites, TLS13_SUITES, type CipherSuites, type TlsVersion } from "../../config/schema/tls.ts";
import type { TlsCapabilities } from "../server/adapter.ts";

/** The protocol limits of the HTTPS listener, as the listener takes them. */
export interface ServerTlsLimits {
  readonly minVersion: TlsVersion;
  readonly maxVersion?: TlsVersion;
  readonly suites?: CipherSuites;
}

/** The limits, with what the operator should know (a version cap), or why this runtime cannot honour the settings. */
export type ServerTlsResolution = { ok: true; limits: ServerTlsLimits; notes: string[] } | { ok: false; problems: string[] };

const MIN = "net.server.tls.min-version";
const SUITES = "net.server.tls.ciphers.allowed-suites";

/**
 * Turns the TLS settings into listener limits this runtime can honour exactly, or refuses them:
 * a setting is never ignored, and a suite the operator did not allow is never negotiated. Where
 * TLS 1.3 suites cannot be restricted, an allow-list that leaves some out is honoured by capping
 * the listener at TLS 1.2 (and the note says so).
 */
export function resolveServerTls(settings: Settings, caps: TlsCapabilities, runtime: string): ServerTlsResolution {
  const problems: string[] = [];
  const notes: string[] = [];
  const minVersion = settings[MIN] as TlsVersion;
  let maxVersion: TlsVersion | undefined;
  if (!caps.minVersions.includes(minVersion)) {
    problems.push(`${MIN}: ${minVersion} cannot be enforced by the HTTPS listener on ${runtime} (it can: ${caps.minVersions.join(", ")})`);
  }
  const names = settings[SUITES] as string[] | undefined;
  let suites: CipherSuites | undefined;
  if (names) {
    const resolved = resolveCipherSuites(names);
    if (!resolved.ok) problems.push(`${SUITES}: unknown cipher suite ${resolved.unknown.join(", ")}`);
    else {
      suites = resolved.suites;
      if (!caps.restrictTls12Suites) {
        problems.push(`${SUITES}: the HTTPS listener on ${runtime} cannot restrict cipher suites; remove the setting or run the gateway on Bun or Node`);
      }
      if (!suites.tls12 && minVersion !== "TLSv1.3") {
        problems.push(`${SUITES}: no TLS 1.2 suite is allowed, so TLS 1.2 clients could not connect: add one, or set ${MIN} to TLSv1.3`);
      }
      if (!suites.tls13) {
        if (minVersion === "TLSv1.3") problems.push(`${SUITES}: no TLS 1.3 suite is allowed but ${MIN} is TLSv1.3`);
        maxVersion = "TLSv1.2";
      } else if (!suites.allTls13 && !caps.restrictTls13Suites) {
        const left = TLS13_SUITES.filter((s) => !suites!.tls13.split(":").includes(s));
        if (minVersion === "TLSv1.3" || !caps.capAtTls12) {
          problems.push(`${SUITES}: the HTTPS listener on ${runtime} cannot restrict TLS 1.3 suites, and the list leaves out ${left.join(", ")}`);
        } else {
          maxVersion = "TLSv1.2";
          notes.push(`TLS 1.3 is off on the HTTPS listener: ${runtime} cannot restrict TLS 1.3 suites and ${SUITES} leaves out ${left.join(", ")}`);
        }
      }
    }
  }
  return problems.length ? { ok: false, problems } : { ok: true, limits: { minVersion, maxVersion, suites }, notes };
}
