import { z } from "zod";
import { Duration } from "./duration.ts";
import { Subscription, SubscriptionKeyLocation } from "./consumers.ts";
import { NamedValues } from "./named-values.ts";
import { CircuitBreaker } from "./resilience.ts";

/** HTTP methods an operation may name; `*` matches any method. */
export const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "*"] as const;

const Name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "expected a name of letters, digits, '.', '_' or '-'");

const PathPrefix = z
  .string()
  .regex(/^\/[^?#\s]*$/, 'expected a path starting with "/" and without query, fragment or spaces')
  .refine((p) => !p.split("/").some((s) => s === "." || s === ".."), "must not contain '.' or '..' segments");

const UrlTemplate = z
  .string()
  .regex(/^\/[^?#\s]*$/, 'expected a URL template starting with "/", such as "/{id}"')
  .refine((t) => t.split("/").every((s) => !/[{}]/.test(s) || /^\{[A-Za-z_][A-Za-z0-9_-]*\*?\}$/.test(s)), {
    message: "a parameter must fill a whole segment, as in /{id} or /{rest*}",
  })
  .refine((t) => !/\*\}./.test(t), "a catch-all parameter such as {rest*} must be the last segment");

const Hostname = z
  .string()
  .regex(
    /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/,
    "expected a host name such as api.example.com or *.example.com",
  )
  .transform((h) => h.toLowerCase());

const BackendUrl = z.string().refine((u) => {
  try {
    const url = new URL(u);
    return (url.protocol === "http:" || url.protocol === "https:") && !url.search && !url.hash && !url.username;
  } catch {
    return false;
  }
}, "expected an http:// or https:// URL without query, fragment or credentials");

/** A policy used in a chain: a policy name with its parameters, or `base` for the parent scope's chain. */
export const PolicyUse = z.union([
  z.literal("base"),
  z
    .object({
      policy: Name,
      with: z.record(z.string(), z.unknown()).optional(),
      failure: z.enum(["closed", "open"]).optional(),
      /**
       * What a policy whose counters are shared through Redis does while Redis is unavailable:
       * count in-process (`open`, the default) or answer 503 (`closed`); see docs/shared-state.md.
       */
      "redis-failure": z.enum(["closed", "open"]).optional(),
    })
    .strict(),
]);

/** What the runtime needs to know about a built-in whose counters are shared through Redis. */
export interface SharedCounterPolicy {
  /** Whether its periods are anchored to the epoch (quotas) rather than starting with the first call. */
  readonly anchored: boolean;
  /**
   * Whether, with these parameters (as the module reads them), a call whose counters are all
   * accepted changes nothing on the exchange: what the built-in's module does (policies-wasm/builtins/)
   * when it lets a request through. Then the answer of Redis alone decides the call, and the host
   * does not run the policy a second time (runtime/policy/shared-step.ts).
   */
  silentWhenAccepted(config: Readonly<Record<string, string>>): boolean;
}

/** A rate limit writes on a passed request only the remaining-calls header or variable and the total-calls header. */
const rateLimitSilent = (config: Readonly<Record<string, string>>) =>
  config["remaining-calls-header-name"] === undefined && config["remaining-calls-variable-name"] === undefined &&
  config["total-calls-header-name"] === undefined;

/** The built-ins whose counters are shared through Redis when the settings name one (docs/shared-state.md); quotas' periods are anchored. */
export const SHARED_COUNTER_POLICIES: ReadonlyMap<string, SharedCounterPolicy> = new Map<string, SharedCounterPolicy>([
  ["rate-limit", { anchored: false, silentWhenAccepted: rateLimitSilent }],
  ["rate-limit-by-key", { anchored: false, silentWhenAccepted: rateLimitSilent }],
  // A bandwidth quota attaches byte meters to a passed request.
  ["quota", { anchored: true, silentWhenAccepted: (config) => config.bandwidth === undefined }],
  ["quota-by-key", { anchored: true, silentWhenAccepted: (config) => config.bandwidth === undefined }],
  // A concurrency slot is given back when the response's headers are ready: the real run holds it.
  ["limit-concurrency", { anchored: false, silentWhenAccepted: () => false }],
]);

/** The four APIM sections of a policy document. */
export const PolicySections = z
  .object({
    inbound: z.array(PolicyUse).optional(),
    backend: z.array(PolicyUse).optional(),
    outbound: z.array(PolicyUse).optional(),
    "on-error": z.array(PolicyUse).optional(),
  })
  .strict();

/** One operation of an API: a method and a URL template relative to the API's path. */
export const Operation = z
  .object({
    name: Name.optional(),
    method: z.string().transform((m) => m.toUpperCase()).pipe(z.enum(METHODS)),
    url: UrlTemplate,
    policies: PolicySections.optional(),
  })
  .strict();

/** An API: a path prefix (optionally bound to host names) forwarded to one backend. */
export const Api = z
  .object({
    name: Name,
    path: PathPrefix,
    hosts: z.array(Hostname).min(1).optional(),
    backend: Name,
    operations: z.array(Operation).optional(),
    policies: PolicySections.optional(),
    /** Whether a call needs a subscription key (APIM's default is true; Portico's is false, so configurations without subscriptions keep working). */
    subscriptionRequired: z.boolean().default(false),
    /** Where the key is read from: a header, else a query parameter. */
    subscriptionKey: SubscriptionKeyLocation.prefault({}),
  })
  .strict();

/** How the gateway connects to an https:// backend: whom to trust, which name to check, which client certificate to show. */
const BackendTls = z
  .object({
    /** CA certificates (PEM text or a file) trusted for this backend instead of the runtime's defaults. */
    ca: z.string().min(1).optional(),
    /** Client certificate (PEM text or a file) for mutual TLS; needs `key`. */
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    /** Check the backend's certificate (default). `false` is for tests and is logged as a warning. */
    verify: z.boolean().default(true),
    /** Server name sent (SNI) and checked, when it is not the URL's host (e.g. a backend reached by IP). */
    sni: Hostname.optional(),
  })
  .strict()
  .refine((t) => (t.cert === undefined) === (t.key === undefined), "cert and key go together (a client certificate needs its key)");

/**
 * How many requests a backend may have in flight at once, and how many may wait for a place
 * (a request waits at most `queueTimeout`, then gets 503 with Retry-After; so does one that finds
 * the queue full). The default keeps one backend from holding more than half of what Bun's `fetch`
 * lets a process have in flight (256 requests), so a backend that slow clients keep busy never
 * stalls the others (see docs/configuration.md).
 */
export const BackendConcurrency = z
  .object({
    max: z.number().int().min(1).max(100_000).default(128),
    queue: z.number().int().min(0).max(1_000_000).default(512),
    queueTimeout: Duration.refine((ms) => ms > 0, 'expected a duration above zero, such as "5s"').prefault("5s"),
  })
  .strict();

/**
 * A member of a load-balanced pool (docs/backends.md): its URL, its share of the traffic within its
 * priority group (`weight`), and its group (`priority`: lower numbers are tried first, as in APIM).
 */
export const PoolMember = z
  .object({
    url: BackendUrl,
    weight: z.number().int().min(1).max(1000).default(1),
    priority: z.number().int().min(0).max(1000).default(0),
  })
  .strict();

/** Response statuses a health check accepts: a status (`200`) or an inclusive range (`"200-399"`). */
const StatusRange = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const match = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(String(value));
  const low = match ? Number(match[1]) : NaN;
  const high = match ? Number(match[2] ?? match[1]) : NaN;
  if (!(low >= 100 && high <= 599 && low <= high)) {
    ctx.addIssue({ code: "custom", message: 'expected a status from 100 to 599 or a range such as "200-399"' });
    return z.NEVER;
  }
  return [low, high] as const;
});

/** Active health checks of a backend's members (docs/backends.md#active-health-checks). */
export const BackendHealth = z
  .object({
    /** Path asked with GET on each member's origin. */
    path: z.string().regex(/^\/[^#\s]*$/, 'expected a path starting with "/", such as "/healthz"'),
    interval: Duration.refine((ms) => ms >= 100, 'expected a duration of at least "100ms", such as "10s"').prefault("10s"),
    timeout: Duration.refine((ms) => ms > 0, 'expected a duration above zero, such as "2s"').prefault("2s"),
    "healthy-threshold": z.number().int().min(1).max(100).default(2),
    "unhealthy-threshold": z.number().int().min(1).max(100).default(3),
    /** Statuses that count as healthy: one, or a list, of statuses and ranges. */
    "expected-status": z.union([z.array(StatusRange).min(1), StatusRange.transform((r) => [r])]).prefault(["200-399"]),
  })
  .strict()
  .refine((h) => h.timeout <= h.interval, { message: "the timeout must not be longer than the interval", path: ["timeout"] });

/** Passive ejection of a pool's members after consecutive failed calls (docs/backends.md#passive-ejection). */
export const BackendPassive = z
  .object({
    "consecutive-failures": z.number().int().min(1).max(1000).default(5),
    ejection: Duration.refine((ms) => ms > 0, 'expected a duration above zero, such as "30s"').prefault("30s"),
  })
  .strict();

/**
 * A backend: one URL, or several forming a load-balanced pool (docs/backends.md), the time allowed
 * for response headers, its concurrency limit, and optionally a circuit breaker (docs/resilience.md).
 */
const Backend = z
  .object({
    urls: z.array(z.union([BackendUrl, PoolMember])).min(1),
    /** Active health checks of each member; none when absent. */
    health: BackendHealth.optional(),
    /** Passive ejection: on by default for pools of more than one member; `false` turns it off. */
    passive: z.union([z.literal(false, { error: "expected false or { consecutive-failures, ejection }" }), BackendPassive]).optional(),
    // prefault, not default: zod 4 returns a default as the output without parsing it (30 would mean 30 ms).
    timeout: Duration.refine((ms) => ms > 0, 'expected a duration above zero, such as "30s"').prefault("30s"),
    tls: BackendTls.optional(),
    /** The protocol requests go to the backend in: HTTP/1.1, or HTTP/2 (h2 by ALPN on https://, h2c with prior knowledge on http://). */
    protocol: z.enum(["http1", "http2"], { error: 'expected "http1" or "http2"' }).default("http1"),
    concurrency: BackendConcurrency.prefault({}),
    circuitBreaker: CircuitBreaker.optional(),
  })
  .strict()
  .refine((b) => !b.tls || b.urls.every((u) => (typeof u === "string" ? u : u.url).startsWith("https:")), {
    message: "tls options need https:// URLs",
    path: ["tls"],
  });

/** A TLS host name served by the HTTPS listener: its certificate, and whether clients are asked for theirs. */
const TlsHostname = z
  .object({
    host: Hostname,
    /** Certificate chain (PEM text or a file). */
    cert: z.string().min(1),
    /** Private key (PEM text or a file). */
    key: z.string().min(1),
    /** Ask clients of this host name for a certificate (APIM's name); policies such as validate-client-certificate check it. */
    negotiateClientCertificate: z.boolean().default(false),
    /** CA certificates (PEM text or a file) that client certificates of this host name are checked against (validate-trust). */
    clientCa: z.string().min(1).optional(),
  })
  .strict()
  .refine((h) => h.clientCa === undefined || h.negotiateClientCertificate, { message: "clientCa needs negotiateClientCertificate: true", path: ["clientCa"] });

const MEMORY_UNITS: Record<string, number> = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** A memory size such as "4MiB", in bytes; at least one 64 KiB page, at most 1 GiB. */
const MemorySize = z.string().transform((text, ctx) => {
  const match = /^(\d+)\s*(KiB|MiB|GiB)$/.exec(text.trim());
  const bytes = match ? Number(match[1]) * MEMORY_UNITS[match[2]!]! : NaN;
  if (!(bytes >= 64 * 1024 && bytes <= 1024 ** 3)) {
    ctx.addIssue({ code: "custom", message: 'expected a size from "64KiB" to "1GiB", such as "4MiB"' });
    return z.NEVER;
  }
  return bytes;
});

/** How much of a body a policy may read and replace: at most 1 MiB (bodies cross into the sandbox as one block). */
const BodySize = z.string().transform((text, ctx) => {
  const match = /^(\d+)\s*(KiB|MiB)$/.exec(text.trim());
  const bytes = match ? Number(match[1]) * MEMORY_UNITS[match[2]!]! : NaN;
  if (!(bytes >= 1024 && bytes <= 1024 ** 2)) {
    ctx.addIssue({ code: "custom", message: 'expected a size from "1KiB" to "1MiB", such as "64KiB"' });
    return z.NEVER;
  }
  return bytes;
});

/** A custom policy module: a file (standalone) or a digest (control plane), with its sandbox budget. */
export const PolicyModule = z
  .object({
    module: z.string().min(1).optional(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lower-case hex digits").optional(),
    budget: z
      .object({
        /** Units per call: one per function entry and per loop iteration. */
        fuel: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
        /** Linear memory cap, such as "4MiB" or "512KiB" (64 KiB pages). */
        memory: MemorySize.optional(),
      })
      .strict()
      .optional(),
    failure: z.enum(["closed", "open"]).default("closed"),
    /** Opt-in body access: the request body (on_request) and the response body (on_response) are buffered up to these sizes. */
    body: z.object({ request: BodySize.optional(), response: BodySize.optional() }).strict().optional(),
  })
  .strict()
  .refine((m) => m.module !== undefined || m.sha256 !== undefined, "needs a module path or a sha256 digest");

/** A product (APIM's): APIs offered together, whether calling them needs a subscription, and product-scope policies. */
export const Product = z
  .object({
    name: Name,
    apis: z.array(Name).default([]),
    /** APIM's default: a product is protected. `false` makes it open: its APIs may be called without a key. */
    subscriptionRequired: z.boolean().default(true),
    /** Subscriptions to a product that is not published do not pass. */
    state: z.enum(["published", "notPublished"]).default("published"),
    policies: PolicySections.optional(),
  })
  .strict();

/** The control plane's assignment of APIs and host names to a named gateway. */
const GatewayAssignment = z
  .object({ apis: z.array(Name).default([]), hostnames: z.array(Hostname).default([]) })
  .strict();

/** The global scope (APIM's "All APIs"): policies every API runs, where its own sections say `base` (default: first). */
const GlobalScope = z.object({ policies: PolicySections.optional() }).strict();

/** The shape of a configuration file, before cross-references are checked (see validate.ts). */
export const ConfigShape = z
  .object({
    global: GlobalScope.optional(),
    apis: z.array(Api).default([]),
    backends: z.record(Name, Backend).default({}),
    hostnames: z.array(TlsHostname).default([]),
    policies: z.record(Name, PolicyModule).default({}),
    gateways: z.record(Name, GatewayAssignment).default({}),
    products: z.array(Product).default([]),
    subscriptions: z.array(Subscription).default([]),
    /** Text referenced as `{{name}}` in policy parameters (named-values.ts). */
    namedValues: NamedValues.default({}),
  })
  .strict();

/** A configuration as the rest of Portico sees it: parsed, defaulted, durations in milliseconds. */
export type Config = z.output<typeof ConfigShape>;
/** One API of a configuration. */
export type ApiConfig = z.output<typeof Api>;
/** A product as configured. */
export type ProductConfig = z.output<typeof Product>;
/** The policy sections of a scope. */
export type PolicySectionsConfig = z.output<typeof PolicySections>;
