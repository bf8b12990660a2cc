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
const CLIENT_SUITES = "net.client.tls.ciphers.allowed-suites";

/** The cipher limits of one side (listener or backend connections) after checking them against its capabilities. */
interface SuiteLimits {
  maxVersion?: TlsVersion;
  suites?: CipherSuites;
}

/**
 * Checks an allow-list against what one side of a runtime can restrict: a suite the operator did
 * not allow is never negotiated. Where TLS 1.3 suites cannot be restricted, a list that leaves some
 * out is honoured by capping at TLS 1.2 (a note says so).
 */
function resolveSuites(
  key: string,
  names: readonly string[] | undefined,
  minVersion: TlsVersion,
  caps: Omit<TlsCapabilities, "minVersions">,
  where: string,
  problems: string[],
  notes: string[],
): SuiteLimits {
  if (!names) return {};
  const resolved = resolveCipherSuites(names);
  if (!resolved.ok) {
    problems.push(`${key}: unknown cipher suite ${resolved.unknown.join(", ")}`);
    return {};
  }
  const suites = resolved.suites;
  let maxVersion: TlsVersion | undefined;
  if (!caps.restrictTls12Suites) problems.push(`${key}: ${where} cannot restrict cipher suites; remove the setting or run the gateway on Bun or Node`);
  if (!suites.tls12 && minVersion !== "TLSv1.3") {
    problems.push(`${key}: no TLS 1.2 suite is allowed, so TLS 1.2 peers could not connect: add one${key === SUITES ? `, or set ${MIN} to TLSv1.3` : ""}`);
  }
  if (!suites.tls13) {
    if (minVersion === "TLSv1.3") problems.push(`${key}: no TLS 1.3 suite is allowed but ${MIN} is TLSv1.3`);
    maxVersion = "TLSv1.2";
  } else if (!suites.allTls13 && !caps.restrictTls13Suites) {
    const left = TLS13_SUITES.filter((s) => !suites.tls13.split(":").includes(s));
    if (minVersion === "TLSv1.3" || !caps.capAtTls12) {
      problems.push(`${key}: ${where} cannot restrict TLS 1.3 suites, and the list leaves out ${left.join(", ")}`);
    } else {
      maxVersion = "TLSv1.2";
      notes.push(`TLS 1.3 is off on ${where}: TLS 1.3 suites cannot be restricted there and ${key} leaves out ${left.join(", ")}`);
    }
  }
  return { maxVersion, suites };
}

/**
 * Turns the TLS settings into listener limits this runtime can honour exactly, or refuses them:
 * a setting is never ignored, and a suite the operator did not allow is never negotiated.
 */
export function resolveServerTls(settings: Settings, caps: TlsCapabilities, runtime: string): ServerTlsResolution {
  const problems: string[] = [];
  const notes: string[] = [];
  const minVersion = settings[MIN] as TlsVersion;
  if (!caps.minVersions.includes(minVersion)) {
    problems.push(`${MIN}: ${minVersion} cannot be enforced by the HTTPS listener on ${runtime} (it can: ${caps.minVersions.join(", ")})`);
  }
  const limits = resolveSuites(SUITES, settings[SUITES] as string[] | undefined, minVersion, caps, `the HTTPS listener on ${runtime}`, problems, notes);
  return problems.length ? { ok: false, problems } : { ok: true, limits: { minVersion, ...limits }, notes };
}

/** What backend connections may negotiate: the allowed suites, and a cap at TLS 1.2 where needed. */
export interface ClientTlsLimits {
  readonly maxVersion?: TlsVersion;
  readonly suites?: CipherSuites;
}

/** Turns `net.client.tls.ciphers.allowed-suites` into limits the runtime's upstream client honours, or refuses it. */
export function resolveClientTls(settings: Settings, caps: Omit<TlsCapabilities, "minVersions">, runtime: string): { ok: true; limits: ClientTlsLimits; notes: string[] } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  const limits = resolveSuites(CLIENT_SUITES, settings[CLIENT_SUITES] as string[] | undefined, "TLSv1.2", caps, `backend connections on ${runtime}`, problems, notes);
  return problems.length ? { ok: false, problems } : { ok: true, limits, notes };
}
