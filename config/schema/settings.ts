import { hostname } from "node:os";
import { z } from "zod";
import { HTTP_TOKEN } from "./http-token.ts";
import { parseDuration } from "./duration.ts";
import { type IpRange, parseCidr } from "./ip.ts";
import { opensslSuiteName } from "./tls.ts";
import { type NoProxyRule, parseNoProxy, parseProxyUrl, type ProxyEndpoint } from "./egress-proxy.ts";

// The egress proxy settings' value types and parsers, which the gateway also applies to HTTP_PROXY,
// HTTPS_PROXY and NO_PROXY when the settings leave them unset.
export { type NoProxyRule, parseNoProxy, parseProxyUrl, type ProxyEndpoint } from "./egress-proxy.ts";
import { type Problem, showValue, suggest } from "./problems.ts";

type Raw = string | number | boolean;

// Only a whole number or a string of digits: `true`, "0x10", "1e3" or a list must not turn into a port.
const port = z.union([z.number(), z.string()], { error: "expected a port number from 0 to 65535" }).transform((v, ctx) => {
  const n = typeof v === "number" ? v : /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    ctx.addIssue({ code: "custom", message: "expected a port number from 0 to 65535" });
    return z.NEVER;
  }
  return n;
});

const duration = z.union([z.string(), z.number()], { error: 'expected a positive duration such as "500ms", "10s" or "1m"' }).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: "custom", message: 'expected a positive duration such as "500ms", "10s" or "1m"' });
    return z.NEVER;
  }
  return ms;
});

const bool = z.union([z.boolean(), z.string(), z.number()], { error: "expected true or false" }).transform((v, ctx) => {
  if (typeof v === "boolean") return v;
  const lower = String(v).trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(lower)) return true;
  if (["false", "0", "no", "off"].includes(lower)) return false;
  ctx.addIssue({ code: "custom", message: "expected true or false" });
  return z.NEVER;
});

/**
 * A URL of one of `protocols`. With `credentials: false` user info is refused: a password in a URL
 * ends up in error messages and logs (the gateway token goes in config.service.auth instead).
 */
const url = (protocols: string[], { credentials = true }: { credentials?: boolean } = {}) =>
  z.string().superRefine((v, ctx) => {
    let parsed: URL;
    try {
      parsed = new URL(v);
    } catch {
      parsed = new URL("invalid:");
    }
    if (!protocols.includes(parsed.protocol)) {
      ctx.addIssue({ code: "custom", message: `expected a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}` });
    } else if (!credentials && (parsed.username || parsed.password)) {
      ctx.addIssue({ code: "custom", message: "must not carry a user name or password (the gateway token goes in config.service.auth)" });
    }
  });

const list = z.string().transform((v) => v.split(",").map((s) => s.trim()).filter(Boolean));
// IANA cipher suite names; an unknown one is named, so a typo never silently allows everything.
const suites = list.transform((names, ctx) => {
  const unknown = names.filter((n) => opensslSuiteName(n) === undefined);
  if (unknown.length) {
    ctx.addIssue({
      code: "custom",
      message: `unknown cipher suite ${
        unknown.map((n) => JSON.stringify(n)).join(", ")
      } (expected IANA names such as TLS_AES_128_GCM_SHA256 or TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)`,
    });
    return z.NEVER;
  }
  if (names.length === 0) {
    ctx.addIssue({ code: "custom", message: "expected at least one cipher suite" });
    return z.NEVER;
  }
  return names;
});
const SIZE_UNITS: Record<string, number> = { "": 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** A size in bytes: a whole number (bytes) or digits with `B`, `KiB`, `MiB` or `GiB`, from `min` to `max`. */
const size = (min: number, max: number, example: string) => {
  const message = `expected a size from ${showSize(min)} to ${showSize(max)}, such as "${example}" (a bare number is bytes)`;
  return z.union([z.number(), z.string()], { error: message }).transform((v, ctx) => {
    const match = /^\s*(\d+)\s*(B|KiB|MiB|GiB)?\s*$/.exec(String(v));
    const bytes = match ? Number(match[1]) * SIZE_UNITS[match[2] ?? ""]! : NaN;
    if (!Number.isSafeInteger(bytes) || bytes < min || bytes > max) {
      ctx.addIssue({ code: "custom", message });
      return z.NEVER;
    }
    return bytes;
  });
};

function showSize(bytes: number): string {
  if (bytes === 0) return "0";
  for (const unit of ["GiB", "MiB", "KiB"]) if (bytes % SIZE_UNITS[unit]! === 0) return `${bytes / SIZE_UNITS[unit]!}${unit}`;
  return `${bytes}B`;
}

/** A whole number from `min` to `max` (a number, or a string of digits). */
const count = (min: number, max: number) =>
  z.union([z.number(), z.string()], { error: `expected a whole number from ${min} to ${max}` }).transform((v, ctx) => {
    const n = typeof v === "number" ? v : /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: "custom", message: `expected a whole number from ${min} to ${max}` });
      return z.NEVER;
    }
    return n;
  });

// A scalar only: a map or a list must not become "[object Object]" or "a,b".
const text = z
  .union([z.string(), z.number()], { error: "expected a single value, not a list or a map" })
  .transform(String)
  .pipe(z.string().min(1, "expected a non-empty value"));
const oneOf = <const T extends string>(values: readonly [T, ...T[]]) =>
  z.string().refine((v): v is T => (values as readonly string[]).includes(v), `expected one of ${values.join(", ")}`) as unknown as z.ZodType<T>;

/** `name=value` pairs separated by commas (as `OTEL_EXPORTER_OTLP_HEADERS`), values percent-decoded. */
const headerList = z.string().transform((v, ctx) => {
  const headers: Record<string, string> = {};
  for (const pair of v.split(",").map((s) => s.trim()).filter(Boolean)) {
    const at = pair.indexOf("=");
    const name = at > 0 ? pair.slice(0, at).trim().toLowerCase() : "";
    if (!HTTP_TOKEN.test(name)) {
      ctx.addIssue({ code: "custom", message: "expected name=value pairs separated by commas, such as api-key=..." });
      return z.NEVER;
    }
    let value = pair.slice(at + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // Not percent-encoded: taken as written.
    }
    headers[name] = value;
  }
  return headers as Readonly<Record<string, string>>;
});

/** A header name (a token), lower-cased. */
const headerName = z.string().refine((v) => HTTP_TOKEN.test(v), "expected a header name such as trace-id").transform((v) => v.toLowerCase());

/** A fraction from 0 to 1, such as 0.01 for one in a hundred. */
const ratio = z.union([z.number(), z.string()], { error: "expected a number from 0 to 1, such as 0.01" }).transform((v, ctx) => {
  const n = typeof v === "number" ? v : /^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(v) ? Number(v) : NaN;
  if (!(n >= 0 && n <= 1)) {
    ctx.addIssue({ code: "custom", message: "expected a number from 0 to 1, such as 0.01" });
    return z.NEVER;
  }
  return n;
});

/** A Redis node as `host:port` (a bare host means port 6379). */
export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/**
 * Redis nodes (Sentinel or Cluster seeds): `host:port` separated by commas, or a YAML list of them;
 * IPv6 hosts in brackets (`[::1]:6379`).
 */
const nodes = z.union([z.string(), z.array(z.string())], { error: "expected host:port pairs separated by commas, such as redis-1:6379,redis-2:6379" })
  .transform((v, ctx) => {
    const items = (Array.isArray(v) ? v : v.split(",")).map((s) => s.trim()).filter(Boolean);
    const parsed: RedisNode[] = [];
    for (const item of items) {
      const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(item);
      const port = match?.[2] === undefined ? 6379 : Number(match[2]);
      if (!match || port < 1 || port > 65535) {
        ctx.addIssue({ code: "custom", message: "expected host:port pairs separated by commas, such as redis-1:6379,redis-2:6379" });
        return z.NEVER;
      }
      parsed.push({ host: match[1]!.replace(/^\[|\]$/g, ""), port });
    }
    if (parsed.length === 0) {
      ctx.addIssue({ code: "custom", message: "expected at least one host:port" });
      return z.NEVER;
    }
    return parsed as readonly RedisNode[];
  });

/**
 * Addresses and CIDR blocks, IPv4 and IPv6 (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`), separated
 * by commas or as a YAML list; every entry that is neither is named.
 */
const cidrs = z.union([z.string(), z.array(z.string())], { error: "expected addresses or CIDR blocks separated by commas, such as 10.0.0.0/8,2001:db8::/32" })
  .transform((v, ctx) => {
    const items = (Array.isArray(v) ? v : v.split(",")).map((s) => s.trim()).filter(Boolean);
    const bad = items.filter((item) => parseCidr(item) === undefined);
    if (bad.length) {
      ctx.addIssue({
        code: "custom",
        message: `not an address or CIDR block: ${bad.map((b) => JSON.stringify(b)).join(", ")} (expected such as 10.0.0.0/8 or 2001:db8::/32)`,
      });
      return z.NEVER;
    }
    return items.map((item) => parseCidr(item)!) as readonly IpRange[];
  });

/** A forward proxy's URL (see parseProxyUrl): its origin and the Proxy-Authorization its user info makes. */
const proxyUrl = z.string({ error: `expected a proxy URL such as http://proxy.example:3128` }).transform((v, ctx) => {
  const parsed = parseProxyUrl(v);
  if (parsed.ok) return parsed.proxy as ProxyEndpoint;
  ctx.addIssue({ code: "custom", message: parsed.message });
  return z.NEVER;
});

/** Hosts reached without the egress proxy (see parseNoProxy): a comma-separated string or a YAML list. */
const noProxy = z.union([z.string(), z.array(z.union([z.string(), z.number()]))], { error: "expected host names separated by commas" }).transform((v, ctx) => {
  const parsed = parseNoProxy(Array.isArray(v) ? v.map(String) : v);
  if (parsed.ok) return parsed.rules as readonly NoProxyRule[];
  ctx.addIssue({ code: "custom", message: parsed.message });
  return z.NEVER;
});

/** Default bucket bounds of the duration histograms, in milliseconds (sub-millisecond ones for the gateway's own time). */
const DEFAULT_BUCKETS_MS: readonly number[] = [0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/** Histogram bucket bounds in milliseconds (APIM's unit): positive numbers in increasing order, separated by commas. */
const buckets = z.union([z.string(), z.array(z.number())], { error: "expected increasing positive numbers of milliseconds, such as 5,10,25,50" })
  .transform((v, ctx) => {
    const bounds = Array.isArray(v) ? v : v.split(",").map((s) => s.trim()).filter(Boolean).map((s) => /^\d+(\.\d+)?$/.test(s) ? Number(s) : NaN);
    if (bounds.length === 0 || bounds.some((b, i) => !(b > 0) || !Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!))) {
      ctx.addIssue({ code: "custom", message: "expected increasing positive numbers of milliseconds, such as 5,10,25,50" });
      return z.NEVER;
    }
    return bounds as readonly number[];
  });

/** Every gateway setting: its parser and its default. Names are fixed by the interface contract (docs/design/contract.md). */
const SPECS = {
  "gateway.name": { schema: text, default: () => hostname() },
  "config.service.endpoint": { schema: url(["http:", "https:"], { credentials: false }), default: () => undefined },
  "config.service.auth": { schema: text, default: () => undefined, secret: true },
  "config.service.ca": { schema: text, default: () => undefined },
  "config.sync.interval": { schema: duration, default: () => 10_000 },
  "config.heartbeat.interval": { schema: duration, default: () => 60_000 },
  "config.backup.enabled": { schema: bool, default: () => true },
  "config.backup.path": { schema: text, default: () => "./.portico/backup" },
  "net.server.bind-address": { schema: text, default: () => "0.0.0.0" },
  "net.server.http.port": { schema: port, default: () => 8080 },
  "net.server.https.port": { schema: port, default: () => 8081 },
  // gRPC pass-through (docs/protocols.md): its own plaintext HTTP/2 listener, off unless a port is given.
  "net.server.grpc.port": { schema: port, default: () => undefined as number | undefined },
  "net.server.tls.min-version": { schema: oneOf(["TLSv1.2", "TLSv1.3", "TLSv1.1", "TLSv1"]), default: () => "TLSv1.2" as const },
  "net.server.tls.ciphers.allowed-suites": { schema: suites, default: () => undefined },
  "net.client.tls.ciphers.allowed-suites": { schema: suites, default: () => undefined },
  "net.server.timeouts.header": { schema: duration, default: () => 10_000 },
  "net.server.timeouts.body-idle": { schema: duration, default: () => 30_000 },
  "net.server.timeouts.request": { schema: duration, default: () => 300_000 },
  "net.server.timeouts.keep-alive": { schema: duration, default: () => 75_000 },
  "net.server.body.min-rate": { schema: count(0, Number.MAX_SAFE_INTEGER), default: () => 240 },
  "net.server.body.min-rate-grace": { schema: duration, default: () => 5_000 },
  "net.server.path.encoded-separators": { schema: oneOf(["keep", "reject", "decode"]), default: () => "keep" as const },
  // The client behind load balancers (docs/edge-networking.md); checked together in forwardedProblems.
  "net.server.http.forwarded.trusted-proxies": { schema: cidrs, default: () => [] as readonly IpRange[] },
  "net.server.http.forwarded.proto.enabled": { schema: bool, default: () => false },
  "net.server.http.proxy-protocol": { schema: bool, default: () => false },
  // HTTP/2 from clients (docs/protocols.md#http2): h2 by ALPN on the HTTPS listener, h2c (prior
  // knowledge) on the plain listener only when asked; the limits are the SETTINGS the gateway sends.
  "net.server.http2.enabled": { schema: bool, default: () => true },
  "net.server.http2.cleartext": { schema: bool, default: () => false },
  "net.server.http2.max-concurrent-streams": { schema: count(1, 2 ** 31 - 1), default: () => 256 },
  "net.server.http2.max-header-list-size": { schema: size(1024, 1024 ** 2, "16KiB"), default: () => 16 * 1024 },
  // WebSocket pass-through (docs/protocols.md): idle connections close with 1001, longer messages with 1009.
  "net.server.websocket.idle-timeout": { schema: duration, default: () => 300_000 },
  "net.server.websocket.max-message-bytes": { schema: size(1024, 256 * 1024 ** 2, "16MiB"), default: () => 16 * 1024 ** 2 },
  "net.management.bind-address": { schema: text, default: () => "0.0.0.0" },
  "net.management.port": { schema: port, default: () => 8090 },
  // Telemetry (docs/observability.md). The OTLP endpoint was `telemetry.metrics.otlp.endpoint` in the
  // contract, still accepted as an alias (ALIASES below), as are APIM's `observability.opentelemetry.*`.
  "telemetry.otlp.endpoint": { schema: url(["http:", "https:"]), default: () => undefined },
  "telemetry.otlp.enabled": { schema: bool, default: () => true },
  "telemetry.otlp.protocol": { schema: oneOf(["http/protobuf", "http/json"]), default: () => "http/protobuf" as const },
  "telemetry.otlp.headers": { schema: headerList, default: () => ({}) as Readonly<Record<string, string>>, secret: true },
  "telemetry.otlp.timeout": { schema: duration, default: () => 10_000 },
  "telemetry.otlp.spool.path": { schema: text, default: () => "./.portico/spool" },
  "telemetry.otlp.spool.max-bytes": { schema: size(0, 64 * 1024 ** 3, "64MiB"), default: () => 64 * 1024 ** 2 },
  "telemetry.metrics.prometheus.enabled": { schema: bool, default: () => true },
  "telemetry.metrics.export-interval": { schema: duration, default: () => 60_000 },
  "telemetry.metrics.histogram.buckets": { schema: buckets, default: () => DEFAULT_BUCKETS_MS },
  "telemetry.metrics.system.enabled": { schema: bool, default: () => true },
  "telemetry.metrics.subscription-attribute": { schema: bool, default: () => false },
  "telemetry.traces.sampling": { schema: ratio, default: () => 1 },
  "telemetry.traces.trust-parent": { schema: bool, default: () => false },
  "telemetry.traces.response-header": { schema: headerName, default: () => undefined },
  "telemetry.logs.std": { schema: oneOf(["json", "text", "none"]), default: () => "json" as const },
  "telemetry.logs.std.level": { schema: oneOf(["debug", "info", "warn", "error"]), default: () => "info" as const },
  "telemetry.logs.otlp.enabled": { schema: bool, default: () => false },
  "telemetry.logs.buffer": { schema: size(64 * 1024, 1024 ** 3, "4MiB"), default: () => 4 * 1024 ** 2 },
  // Shared state on Redis (docs/shared-state.md): one of a URL, Sentinel or Cluster; checked together in redisProblems.
  "cache.redis.url": { schema: url(["redis:", "rediss:"]), default: () => undefined },
  "cache.redis.password": { schema: text, default: () => undefined, secret: true },
  "cache.redis.password-file": { schema: text, default: () => undefined },
  "cache.redis.sentinel.master-name": { schema: text, default: () => undefined },
  "cache.redis.sentinel.nodes": { schema: nodes, default: () => undefined },
  "cache.redis.sentinel.password": { schema: text, default: () => undefined, secret: true },
  "cache.redis.cluster.nodes": { schema: nodes, default: () => undefined },
  "cache.redis.timeout": { schema: duration, default: () => 50 },
  "cache.redis.key-prefix": { schema: text, default: () => "portico:" },
  "cache.redis.prefetch": { schema: count(0, 100_000), default: () => 256 },
  // Bounds on what clients can make the gateway hold (additions to the contract; see docs/limits.md).
  "policy.state.max-bytes": { schema: size(1024 ** 2, 64 * 1024 ** 3, "64MiB"), default: () => 64 * 1024 ** 2 },
  "policy.body.max-buffered": { schema: size(1024 ** 2, 64 * 1024 ** 3, "64MiB"), default: () => 64 * 1024 ** 2 },
  // The response and value cache (docs/caching.md): the in-process store's budget and the largest entry either store takes.
  "cache.internal.max-bytes": { schema: size(1024 ** 2, 64 * 1024 ** 3, "256MiB"), default: () => 64 * 1024 ** 2 },
  "cache.entry.max-bytes": { schema: size(1024, 64 * 1024 ** 2, "1MiB"), default: () => 1024 ** 2 },
  "net.client.tls.max-pools": { schema: count(1, 100_000), default: () => 256 },
  // The egress proxy (docs/egress-proxy.md): win over HTTP_PROXY, HTTPS_PROXY and NO_PROXY, resolved with them at start.
  "net.client.proxy.http": { schema: proxyUrl, default: () => undefined, secret: true },
  "net.client.proxy.https": { schema: proxyUrl, default: () => undefined, secret: true },
  "net.client.proxy.no-proxy": { schema: noProxy, default: () => undefined },
} as const satisfies Record<string, { schema: z.ZodType; default: () => unknown; secret?: boolean }>;

/**
 * Other names accepted for a setting: the contract's first name for the OTLP endpoint, and the keys
 * of APIM's self-hosted gateway, so an APIM operator's settings work unchanged. Either spelling
 * works in the file and as a `PORTICO_*` variable; giving both with different values is an error.
 */
export const ALIASES = {
  "telemetry.metrics.otlp.endpoint": "telemetry.otlp.endpoint",
  "observability.opentelemetry.collector.uri": "telemetry.otlp.endpoint",
  "observability.opentelemetry.enabled": "telemetry.otlp.enabled",
  "observability.opentelemetry.histogram.buckets": "telemetry.metrics.histogram.buckets",
  "observability.opentelemetry.system-metrics.enabled": "telemetry.metrics.system.enabled",
} as const satisfies Record<string, keyof typeof SPECS>;

/** A settings key, e.g. `net.server.http.port`. */
export type SettingKey = keyof typeof SPECS;

/** Resolved gateway settings: every key with its parsed value (durations in ms, lists as arrays). */
export type Settings = { readonly [K in SettingKey]: z.output<(typeof SPECS)[K]["schema"]> | ReturnType<(typeof SPECS)[K]["default"]> };

/** All setting keys, in contract order. */
export const SETTING_KEYS = Object.keys(SPECS) as SettingKey[];

/** The environment variable for a key: `PORTICO_` + key upper-cased, `.` and `-` turned into `_`. */
export function envName(key: string): string {
  return `PORTICO_${key.toUpperCase().replace(/[.-]/g, "_")}`;
}

function holdsOnlySettings(prefix: string, map: object): boolean {
  return Object.keys(map).every((key) => `${prefix}.${key}` in SPECS);
}

/** Flattens a nested YAML map (`net: {server: ...}`) into dotted keys, so both spellings work in a settings file. */
function flatten(input: Record<string, unknown>, prefix = "", out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [key, value] of Object.entries(input)) {
    const dotted = prefix ? `${prefix}.${key}` : key;
    // A map nests, even under a setting's own name when it holds only settings (`std: { level: debug }`
    // under `telemetry.logs` is `telemetry.logs.std.level`); any other map under a setting is that
    // setting's (bad) value, reported as such.
    if (value !== null && typeof value === "object" && !Array.isArray(value) && (!(dotted in SPECS) || holdsOnlySettings(dotted, value))) {
      flatten(value as Record<string, unknown>, dotted, out);
    } else out[dotted] = value;
  }
  return out;
}

/** The outcome of resolving settings: the settings, or one problem per bad key; `warnings` are worth logging either way. */
export type SettingsResult =
  | {
    ok: true;
    settings: Settings;
    warnings: string[]; /** Keys set by the file, the environment or an override (not defaults). */
    given: ReadonlySet<SettingKey>;
  }
  | { ok: false; problems: Problem[]; warnings: string[] };

/**
 * The one place where settings are resolved: defaults, then the settings file (a map of dotted
 * keys, nested maps allowed), then `PORTICO_*` environment variables, which win. `overrides`
 * (from the CLI or tests) win over everything.
 */
export function resolveSettings(
  file: Record<string, unknown> | undefined,
  env: Record<string, string | undefined>,
  overrides: Partial<Record<SettingKey, Raw>> = {},
): SettingsResult {
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const raw = new Map<string, { value: unknown; from: string; spelled: string }>();

  // A value given under a key and under an alias of it, at the same level (file or environment), must agree.
  const set = (key: SettingKey, value: unknown, from: string, spelled: string) => {
    const before = raw.get(key);
    if (before && before.from === from && before.spelled !== spelled && showValue(before.value) !== showValue(value)) {
      problems.push({ path: key, message: `given twice with different values, as ${before.spelled} and as ${spelled} (use one name)` });
    }
    raw.set(key, { value, from, spelled });
  };
  for (const [key, value] of Object.entries(flatten(file ?? {}))) {
    const canonical = key in SPECS ? key as SettingKey : ALIASES[key as keyof typeof ALIASES];
    if (!canonical) {
      const hint = suggest(key, [...SETTING_KEYS, ...Object.keys(ALIASES)]);
      problems.push({ path: key, message: `unknown setting${hint ? ` (did you mean "${hint}"?)` : ""}` });
    } else set(canonical, value, "settings file", key);
  }
  const envKeys = new Map<string, SettingKey>([
    ...SETTING_KEYS.map((k) => [envName(k), k] as const),
    ...Object.entries(ALIASES).map(([alias, k]) => [envName(alias), k] as const),
  ]);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith("PORTICO_") || value === undefined) continue;
    const key = envKeys.get(name);
    // An empty variable counts as unset (as `FOO=` in a compose file means): it must not hide the file's value.
    if (!key) warnings.push(`environment variable ${name} is not a Portico setting and is ignored`);
    else if (value !== "") set(key, value, "environment", name);
  }
  for (const [key, value] of Object.entries(overrides)) raw.set(key, { value, from: "override", spelled: key });

  const settings: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const spec: { schema: z.ZodType; default: () => unknown; secret?: boolean } = SPECS[key];
    const given = raw.get(key);
    if (given === undefined || given.value === "" || given.value === null) {
      settings[key] = spec.default();
      continue;
    }
    const parsed = spec.schema.safeParse(given.value);
    if (parsed.success) settings[key] = parsed.data;
    else {
      const seen = spec.secret ? "a value that is not shown" : showValue(given.value);
      const origin = given.from === "settings file"
        ? (given.spelled === key ? "" : ` (as ${given.spelled})`)
        : ` (from ${given.from === "environment" ? given.spelled : given.from})`;
      problems.push({ path: key, message: `${parsed.error.issues[0]!.message.replace(/^Invalid input: /, "")}${origin} (got ${seen})` });
    }
  }
  if (!problems.length) {
    problems.push(...redisProblems(settings as Settings), ...forwardedProblems(settings as Settings), ...http2Problems(settings as Settings));
  }
  if (problems.length) return { ok: false, problems, warnings };
  const given = new Set([...raw.keys()].filter((k) => raw.get(k)!.value !== "" && raw.get(k)!.value !== null) as SettingKey[]);
  return { ok: true, settings: settings as Settings, warnings, given };
}

/**
 * The Redis settings that only make sense together: one topology at most (a URL, Sentinel or
 * Cluster), Sentinel's master name with its nodes, one source of password, and a timeout a request
 * can afford (it is the longest a request waits for Redis).
 */
function redisProblems(settings: Settings): Problem[] {
  const problems: Problem[] = [];
  const url = settings["cache.redis.url"];
  const master = settings["cache.redis.sentinel.master-name"];
  const sentinels = settings["cache.redis.sentinel.nodes"];
  const cluster = settings["cache.redis.cluster.nodes"];
  const topologies = [url && "cache.redis.url", (master || sentinels) && "cache.redis.sentinel.*", cluster && "cache.redis.cluster.nodes"].filter(Boolean);
  if (topologies.length > 1) {
    problems.push({ path: "cache.redis", message: `give one Redis topology, not ${topologies.join(" and ")}` });
  }
  if (master && !sentinels) problems.push({ path: "cache.redis.sentinel.nodes", message: "needed with cache.redis.sentinel.master-name" });
  if (sentinels && !master) problems.push({ path: "cache.redis.sentinel.master-name", message: "needed with cache.redis.sentinel.nodes" });
  if (settings["cache.redis.password"] !== undefined && settings["cache.redis.password-file"] !== undefined) {
    problems.push({ path: "cache.redis.password-file", message: "give the password or a file holding it, not both" });
  }
  const configured = topologies.length > 0;
  for (const key of ["cache.redis.password", "cache.redis.password-file", "cache.redis.sentinel.password"] as const) {
    if (settings[key] !== undefined && !configured) {
      problems.push({ path: key, message: "set without a Redis to use it for (cache.redis.url, sentinel or cluster)" });
    }
  }
  if (settings["cache.redis.timeout"] > 10_000) {
    problems.push({
      path: "cache.redis.timeout",
      message: `at most 10s: every request that counts through Redis may wait this long (got ${settings["cache.redis.timeout"]} ms)`,
    });
  }
  return problems;
}

/**
 * `net.server.http.forwarded.proto.enabled` believes trusted proxies only: without any, it would do
 * nothing; `net.server.http.proxy-protocol` takes connections from them only: without any, none.
 */
function forwardedProblems(settings: Settings): Problem[] {
  if (settings["net.server.http.forwarded.trusted-proxies"].length > 0) return [];
  const problems: Problem[] = [];
  if (settings["net.server.http.forwarded.proto.enabled"]) {
    problems.push({
      path: "net.server.http.forwarded.proto.enabled",
      message: "needs net.server.http.forwarded.trusted-proxies: the scheme is taken only from proxies trusted there",
    });
  }
  if (settings["net.server.http.proxy-protocol"]) {
    problems.push({
      path: "net.server.http.proxy-protocol",
      message: "needs net.server.http.forwarded.trusted-proxies: PROXY headers are taken only from proxies trusted there",
    });
  }
  return problems;
}

/**
 * h2c needs HTTP/2 on, and is not offered behind the PROXY protocol (the plain listener then reads a
 * PROXY header first; the two fronts are not combined).
 */
function http2Problems(settings: Settings): Problem[] {
  if (!settings["net.server.http2.cleartext"]) return [];
  if (!settings["net.server.http2.enabled"]) {
    return [{ path: "net.server.http2.cleartext", message: "needs net.server.http2.enabled: h2c is HTTP/2" }];
  }
  if (settings["net.server.http.proxy-protocol"]) {
    return [{ path: "net.server.http2.cleartext", message: "not with net.server.http.proxy-protocol: the plain listener serves one or the other" }];
  }
  return [];
}

/** Whether the settings name a Redis (a URL, Sentinel or Cluster): shared state is on. */
export function redisConfigured(settings: Settings): boolean {
  return Boolean(settings["cache.redis.url"] || settings["cache.redis.sentinel.nodes"] || settings["cache.redis.cluster.nodes"]);
}
