// Built-in policy `validate-client-certificate` (APIM's): the request must come with a client
// certificate (on a host name with negotiateClientCertificate: true) that is trusted (a valid chain,
// through intermediates the client sent or configured, to one of the host name's clientCa
// certificates; the host says why not in `trust-error`), within its validity period, and, when
// identities are listed, matches one of them (every attribute of that identity). Otherwise 403
// problem+json with the reason, unless ignore-error. Parameters: validate-trust, validate-not-before, validate-not-after, ignore-error
// ("true"/"false"), identities (one per line; `attribute=value` pairs separated by tabs).
import { Config, Request, problem } from "@portico/sdk";
export { portico_abi_version } from "@portico/sdk";

let loaded = false;
let validateTrust = true;
let validateNotBefore = true;
let validateNotAfter = true;
let ignoreError = false;
// Each identity as a flat list: attribute, value, attribute, value, ...
let identities: string[][] = [];

function flag(name: string, fallback: bool): bool {
  const value = Config.get(name);
  return value === null ? fallback : value! == "true";
}

function load(): void {
  validateTrust = flag("validate-trust", true);
  validateNotBefore = flag("validate-not-before", true);
  validateNotAfter = flag("validate-not-after", true);
  ignoreError = flag("ignore-error", false);
  const list = Config.get("identities");
  if (list !== null && list!.length > 0) {
    const lines = list!.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const pairs = lines[i].split("\t");
      const identity: string[] = [];
      for (let j = 0; j < pairs.length; j++) {
        const cut = pairs[j].indexOf("=");
        identity.push(pairs[j].substring(0, cut));
        identity.push(pairs[j].substring(cut + 1));
      }
      identities.push(identity);
    }
  }
  loaded = true;
}

function field(name: string): string {
  const value = Request.clientCertificate(name);
  return value === null ? "" : value!;
}

function attributeMatches(attribute: string, expected: string): bool {
  if (attribute == "thumbprint" || attribute == "serial-number") return field(attribute).toUpperCase() == expected;
  if (attribute == "dns-name") {
    const names = field("dns-names").split(",");
    for (let i = 0; i < names.length; i++) if (names[i] == expected) return true;
    return false;
  }
  return field(attribute) == expected;
}

function matchesAnIdentity(): bool {
  for (let i = 0; i < identities.length; i++) {
    const identity = identities[i];
    let all = true;
    for (let j = 0; j + 1 < identity.length; j += 2) {
      if (!attributeMatches(identity[j], identity[j + 1])) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

/** Why the certificate is refused, or "" when it is accepted. */
function refusal(): string {
  if (Request.clientCertificate("thumbprint") === null) return "The request came without a client certificate.";
  if (validateTrust && field("trusted") != "true") return "The client certificate is not trusted: " + field("trust-error") + ".";
  if (validateNotBefore && field("not-yet-valid") == "true") return "The client certificate is not valid yet.";
  if (validateNotAfter && field("expired") == "true") return "The client certificate has expired.";
  if (identities.length > 0 && !matchesAnIdentity()) return "The client certificate matches none of the accepted identities.";
  return "";
}

export function on_request(): i32 {
  if (!loaded) load();
  const reason = refusal();
  if (reason.length == 0 || ignoreError) return 0;
  problem(403, "client-certificate-rejected", "The client certificate was not accepted", reason);
  return 0;
}
