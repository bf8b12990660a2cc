/**
 * The snapshot: everything a gateway needs to serve one configuration, fully resolved, and the one
 * contract between the configuration side (`config/`) and the request side (`runtime/`). It is built
 * from a validated configuration (a standalone file, a control plane's view, a backup) by
 * `build.ts`: files are read (certificates, keys, CA bundles, policy modules), defaults are applied,
 * policy chains are resolved through every scope (global → API → operation, with `base`), and every
 * custom policy module is identified by its sha256 and carried as bytes. The pipeline compiles a
 * snapshot without any file I/O, and nothing on the request side reads the configuration itself.
 * See docs/design/architecture.md.
 */
import type { X509Certificate } from "node:crypto";
import type { BackendTlsMaterial } from "../certificates.ts";
import type { BreakerErrorReason } from "../schema/resilience.ts";
import type { HostPolicyName, WasmBuiltinName } from "../schema/policies.ts";

/** The built-ins that count in Redis when the settings name one: the runtime reads it from the snapshot, not from the schema. */
export { SHARED_COUNTER_POLICIES } from "../schema/config.ts";

export type { BackendTlsMaterial } from "../certificates.ts";

/**
 * A policy module: a built-in by name (a WebAssembly module shipped with the gateway), a built-in the
 * gateway runs itself (`host`: validate-jwt, whose work is cryptography and network I/O), or a
 * custom module by digest.
 */
export type ModuleRef =
  | { readonly kind: "builtin"; readonly name: WasmBuiltinName }
  | { readonly kind: "host"; readonly name: HostPolicyName }
  | {
    readonly kind: "custom";
    /** sha256 (hex) of the module's bytes, which `Snapshot.modules` holds. */
    readonly sha256: string;
    /** Fuel per call and linear memory cap, defaults applied. */
    readonly budget: { readonly fuel: number; readonly memoryBytes: number };
  };

/** One use of a policy in a chain, ready to instantiate. */
export interface PolicyStepSpec {
  /** The name it was used under: a built-in's name or the key of `policies:`. */
  readonly policy: string;
  readonly module: ModuleRef;
  /** What happens when the policy fails: `closed` answers with an error, `open` skips it. */
  readonly failure: "open" | "closed";
  /** `redis-failure` as written (rate-limits, quotas and limit-concurrency only): what to do while Redis is unavailable; the gateway's default is `open`. */
  readonly redisFailure?: "open" | "closed";
  /** The policy's parameters as the module reads them (`portico_config`), defaults applied. */
  readonly config: Readonly<Record<string, string>>;
  /**
   * The keys of `config` whose values hold the text of a secret named value, when any does: whatever
   * prints a step's parameters shows these as `***` (see `Snapshot.secrets`).
   */
  readonly secrets?: readonly string[];
  /** How much of the request and response bodies the policy may read and replace (bytes), when it opted in. */
  readonly body?: { readonly request: number; readonly response: number };
}

/** The policy chains around one operation, or a whole API, with every enclosing scope folded in. */
export interface ChainsSpec {
  readonly inbound: readonly PolicyStepSpec[];
  readonly backend: readonly PolicyStepSpec[];
  readonly outbound: readonly PolicyStepSpec[];
  readonly onError: readonly PolicyStepSpec[];
}

/** An operation of an API: a method and a URL template, with its own chains. */
export interface OperationSpec {
  /** The operation's name: as configured, else `METHOD /template`-derived (see the router's naming). */
  readonly name: string;
  /** An HTTP method, or `*` for any. */
  readonly method: string;
  /** The URL template relative to the API's prefix, such as `/{id}`. */
  readonly url: string;
  readonly chains: ChainsSpec;
  /** The chains for calls made through a product with policies (global → product → API → operation), by product name; others use `chains`. */
  readonly productChains: ReadonlyMap<string, ChainsSpec>;
}

/** An API: where it is routed from, which backend it forwards to, and its chains. */
export interface ApiSpec {
  readonly name: string;
  /** The path prefix, canonical: no trailing slash, "" for the root API. */
  readonly prefix: string;
  /** Host names it answers on (lower case; `*.suffix` wildcards), or undefined for any host. */
  readonly hosts: readonly string[] | undefined;
  /** The name of its backend in `Snapshot.backends`. */
  readonly backend: string;
  /** The operations it lists, or undefined when every method and path under the prefix is forwarded. */
  readonly operations: readonly OperationSpec[] | undefined;
  /** The chains of requests that are not matched to a listed operation (APIs without operations). */
  readonly chains: ChainsSpec;
  /** The same through each product with policies, by product name. */
  readonly productChains: ReadonlyMap<string, ChainsSpec>;
  /** How calls to this API are checked for a subscription key. */
  readonly access: ApiAccessSpec;
}

/** How an API checks subscription keys (docs/consumers.md). */
export interface ApiAccessSpec {
  /** Whether a call without a key is refused: the API requires a subscription and is in no open product. */
  readonly keyRequired: boolean;
  /** The open product a call without a key goes through (its policies run), if the API is in one. */
  readonly openProduct: string | undefined;
  /** The header the key is read from, lower case. */
  readonly header: string;
  /** The query parameter the key is read from when the header is absent. */
  readonly query: string;
}

/** A product: which APIs it offers and whether its subscriptions may call them. */
export interface ProductSpec {
  readonly name: string;
  readonly apis: ReadonlySet<string>;
  /** `state: published`; subscriptions to a product that is not published do not pass. */
  readonly published: boolean;
  readonly subscriptionRequired: boolean;
}

/** A subscription: what it may call and whether it may now. */
export interface SubscriptionSpec {
  readonly name: string;
  /** What it gives access to: every API, one product's APIs, or one API. */
  readonly scope: { readonly kind: "all-apis" } | { readonly kind: "product"; readonly name: string } | { readonly kind: "api"; readonly name: string };
  readonly state: "active" | "suspended" | "cancelled";
  /** When it stops passing (ms since the epoch); undefined: never. */
  readonly expiresAt: number | undefined;
}

/**
 * The keys of every subscription, as keyed hashes: a presented key is hashed with each salt
 * (HMAC-SHA256, the salt as the HMAC key) and its digest looked up. The keys themselves are not in
 * the snapshot.
 */
export interface SubscriptionKeysSpec {
  /** Digests (hex) by salt (hex): which subscription, and which of its two keys. */
  readonly bySalt: ReadonlyMap<string, ReadonlyMap<string, { readonly subscription: string; readonly key: "primary" | "secondary" }>>;
}

/** A backend, defaults applied. */
export interface BackendSpec {
  readonly name: string;
  /** Base URLs, in the order written; several form a load-balanced pool (see `members`). */
  readonly urls: readonly string[];
  /** The pool's members: each URL with its weight and priority (defaults 1 and 0); one per URL. */
  readonly members: readonly PoolMemberSpec[];
  /** Active health checks of each member; undefined without `health:`. */
  readonly health: HealthCheckSpec | undefined;
  /** Passive ejection after consecutive failures; undefined when off (one URL without `passive:`, or `passive: false`). */
  readonly passive: PassiveSpec | undefined;
  /** How long the backend may take to send response headers, in milliseconds. */
  readonly timeoutMs: number;
  /** In-flight requests at once, waiting requests, and the longest wait (ms). */
  readonly concurrency: { readonly max: number; readonly queue: number; readonly queueTimeoutMs: number };
  readonly tls: BackendTlsMaterial | undefined;
  /** Whether requests go to it over HTTP/2 (`protocol: http2`, docs/backends.md#http2-to-backends); HTTP/1.1 otherwise. */
  readonly http2: boolean;
  /** The backend's circuit breaker (docs/resilience.md); absent when it has none. */
  readonly circuitBreaker?: { readonly rules: readonly BreakerRuleSpec[] };
}

/** One circuit breaker rule, resolved: durations in milliseconds, `minimumRequests` defaulted for percentage rules. */
export interface BreakerRuleSpec {
  readonly name: string;
  /** Failures in the interval that trip the breaker; or else `percentage` of at least `minimumRequests` calls. */
  readonly count: number | undefined;
  readonly percentage: number | undefined;
  readonly minimumRequests: number;
  readonly intervalMs: number;
  /** Statuses that count as failures, both ends included. */
  readonly statusCodeRanges: readonly { readonly min: number; readonly max: number }[];
  /** Connection failures that count (config/schema/resilience.ts BREAKER_ERROR_REASONS). */
  readonly errorReasons: readonly BreakerErrorReason[];
  readonly tripDurationMs: number;
  readonly acceptRetryAfter: boolean;
}

/** A member of a backend's pool (docs/backends.md). */
export interface PoolMemberSpec {
  readonly url: string;
  /** Share of its priority group's traffic, at least 1. */
  readonly weight: number;
  /** Its group: lower numbers are tried first. */
  readonly priority: number;
}

/** A backend's active health checks, durations in milliseconds (docs/backends.md#active-health-checks). */
export interface HealthCheckSpec {
  /** Path asked with GET on each member's origin. */
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive passed checks that make an unhealthy member healthy. */
  readonly healthyThreshold: number;
  /** Consecutive failed checks that make a healthy member unhealthy. */
  readonly unhealthyThreshold: number;
  /** Inclusive status ranges that count as passed. */
  readonly expectedStatus: readonly (readonly [number, number])[];
}

/** Passive ejection of a pool's members (docs/backends.md#passive-ejection). */
export interface PassiveSpec {
  /** Consecutive failed calls (no response, or 5xx) that eject a member. */
  readonly consecutiveFailures: number;
  /** How long an ejected member gets no traffic, in milliseconds. */
  readonly ejectionMs: number;
}

/** A host name of the HTTPS listener: its certificate and key read and checked. */
export interface HostnameSpec {
  readonly host: string;
  /** Certificate chain and private key, PEM. */
  readonly cert: string;
  readonly key: string;
  /** When the leaf certificate expires (ms since the epoch). */
  readonly notAfter: number;
  /** Whether clients of this host name are asked for a certificate. */
  readonly negotiateClientCertificate: boolean;
  /** CA certificates that client certificates are checked against: the PEM and each certificate parsed. */
  readonly clientCa: { readonly pem: string; readonly certificates: readonly X509Certificate[] } | undefined;
}

/** One configuration, resolved. Immutable. */
export interface Snapshot {
  /** sha256 (hex) of the configuration's source bytes: its identity in logs, heartbeats and backups. */
  readonly hash: string;
  /** Where it came from (a file, a control plane revision, a backup), for logs. */
  readonly source: string;
  readonly apis: readonly ApiSpec[];
  /** Backends by name. */
  readonly backends: ReadonlyMap<string, BackendSpec>;
  /** Host names of the HTTPS listener, the first being the default; empty without `hostnames`. */
  readonly hostnames: readonly HostnameSpec[];
  /** Products by name. */
  readonly products: ReadonlyMap<string, ProductSpec>;
  /** Subscriptions by name. */
  readonly subscriptions: ReadonlyMap<string, SubscriptionSpec>;
  readonly subscriptionKeys: SubscriptionKeysSpec;
  /** The bytes of every custom policy module the chains use, by sha256. */
  readonly modules: ReadonlyMap<string, Uint8Array>;
  /** Absolute paths of the files read to build it (watched in standalone mode: a change rebuilds the snapshot). */
  readonly files: readonly string[];
  /**
   * The text of every secret named value (docs/configuration.md#named-values): never printed. Policy
   * parameters hold them in clear (a policy needs them); anything that shows configuration or text
   * derived from it (logs, golden outputs) replaces them with `***`.
   */
  readonly secrets: ReadonlySet<string>;
}
