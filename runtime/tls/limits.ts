import type { Settings } from "../../config/schema/settings.ts";
import { type CipherSuites, DEFAULT_SUITES, resolveCipherSuites, TLS13_SUITES, type TlsVersion } from "../../config/schema/tls.ts";
import type { TlsCapabilities } from "../server/adapter.ts";

/** The protocol limits of the HTTPS listener, as the listener takes them. */
export interface ServerTlsLimits {
  readonly minVersion: TlsVersion;
  readonly maxVersion?: TlsVersion;
  /** The suites to offer: the operator's list or Portico's defaults; undefined where the runtime cannot restrict suites and offers its own (accepted only where they are all within the defaults, or all allowed by the list). */
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

/** Portico's default suites, resolved once (DEFAULT_SUITES names only known suites). */
const DEFAULTS = (() => {
  const resolved = resolveCipherSuites(DEFAULT_SUITES);
  if (!resolved.ok) throw new Error(`DEFAULT_SUITES names unknown suites: ${resolved.unknown.join(", ")}`);
  return resolved.suites;
})();

/**
 * Portico's default suites for a side that has no allow-list: applied where the runtime can
 * restrict TLS 1.2 suites (the list has every TLS 1.3 suite, so no version cap is needed), left to
 * the runtime where it cannot but offers none outside them itself (its measured `ownSuites`), and
 * refused where neither holds, so a suite outside the defaults is never offered by default.
 */
function defaultSuites(key: string, caps: Omit<TlsCapabilities, "minVersions">, where: string, problems: string[]): SuiteLimits {
  if (caps.restrictTls12Suites) return { suites: DEFAULTS };
  const outside = caps.ownSuites ? caps.ownSuites.filter((n) => !DEFAULT_SUITES.includes(n)) : undefined;
  if (!outside || outside.length) {
    problems.push(
      `${key}: ${where} cannot restrict cipher suites and offers suites outside Portico's defaults${
        outside?.length ? ` (${outside.join(", ")})` : ""
      }; run the gateway on Bun or Node`,
    );
  }
  return {};
}

/**
 * Where a runtime cannot restrict suites, an allow-list is honoured only if it allows every TLS 1.2
 * suite the runtime offers anyway (its measured `ownSuites`): nothing outside the list is then
 * negotiated, and suites listed beyond them are simply not offered. Otherwise a problem.
 */
function checkOwnSuites(key: string, names: readonly string[], caps: Omit<TlsCapabilities, "minVersions">, where: string, problems: string[]): void {
  const own12 = caps.ownSuites?.filter((n) => !(TLS13_SUITES as readonly string[]).includes(n));
  const missing = own12?.filter((n) => !names.includes(n));
  if (!own12 || !missing) problems.push(`${key}: ${where} cannot restrict cipher suites; remove the setting or run the gateway on Bun or Node`);
  else if (missing.length) {
    problems.push(
      `${key}: ${where} cannot restrict cipher suites: it always offers ${own12.join(", ")} with TLS 1.2, and the list leaves out ${
        missing.join(", ")
      }; list them all, remove the setting, or run the gateway on Bun or Node`,
    );
  }
}

/**
 * Checks an allow-list against what one side of a runtime can restrict: a suite the operator did
 * not allow is never negotiated. Where TLS 1.3 suites cannot be restricted, a list that leaves some
 * out is honoured by capping at TLS 1.2 (a note says so). Without a list, Portico's defaults.
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
  if (!names) return defaultSuites(key, caps, where, problems);
  const resolved = resolveCipherSuites(names);
  if (!resolved.ok) {
    problems.push(`${key}: unknown cipher suite ${resolved.unknown.join(", ")}`);
    return {};
  }
  const suites = resolved.suites;
  let maxVersion: TlsVersion | undefined;
  if (!caps.restrictTls12Suites) checkOwnSuites(key, names, caps, where, problems);
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
  // Where suites cannot be restricted the runtime offers its own (checked above): nothing to pass on.
  return { maxVersion, suites: caps.restrictTls12Suites ? suites : undefined };
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
  /** The operator's list or Portico's defaults; undefined where the runtime cannot restrict suites and offers its own (accepted only where they are all within the defaults, or all allowed by the list). */
  readonly suites?: CipherSuites;
}

/**
 * The listener limits for a listener that takes no settings (the control plane's HTTPS): TLS 1.2 and
 * later with Portico's default suites where the runtime can restrict them.
 */
export function defaultServerTls(caps: TlsCapabilities): ServerTlsLimits {
  return { minVersion: "TLSv1.2", ...(caps.restrictTls12Suites ? { suites: DEFAULTS } : {}) };
}

/** Turns `net.client.tls.ciphers.allowed-suites` into limits the runtime's upstream client honours, or refuses it. */
export function resolveClientTls(
  settings: Settings,
  caps: Omit<TlsCapabilities, "minVersions">,
  runtime: string,
): { ok: true; limits: ClientTlsLimits; notes: string[] } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  const limits = resolveSuites(
    CLIENT_SUITES,
    settings[CLIENT_SUITES] as string[] | undefined,
    "TLSv1.2",
    caps,
    `backend connections on ${runtime}`,
    problems,
    notes,
  );
  return problems.length ? { ok: false, problems } : { ok: true, limits, notes };
}
