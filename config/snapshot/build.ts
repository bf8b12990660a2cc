/**
 * Builds snapshots (snapshot.ts) from configurations: the only way configuration reaches the request
 * side. Loading checks the shape and the cross-references (schema/validate.ts); building then does
 * everything that needs the outside world or the whole configuration at once: reading certificate,
 * key, CA and module files (relative to the configuration's folder), checking them, applying
 * defaults, folding the policy scopes into each operation's chains, and identifying every custom
 * module by its sha256. A problem found here (a file that cannot be read, a key that does not
 * match its certificate, a module whose digest differs) is reported like a validation problem,
 * with its path, and the configuration does not go live.
 */
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { isPem, readBackendTls, readCaBundle, readCertificatePair } from "../certificates.ts";
import { contentHash, loadConfigJson, loadConfigText, type LoadResult, localNamedValueReader } from "../load.ts";

export type { LoadResult } from "../load.ts";
import { type ApiConfig, BackendConcurrency, BackendPassive, type Config, type PolicySectionsConfig } from "../schema/config.ts";
import { MIN_KEY_LENGTH, type SubscriptionKeyConfig } from "../schema/consumers.ts";
import type { ResolvedNamedValues } from "../schema/named-values.ts";
import { type CircuitBreakerConfig, DEFAULT_MINIMUM_REQUESTS } from "../schema/resilience.ts";
import { builtinPolicyConfig, isHostPolicy, type WasmBuiltinName } from "../schema/policies.ts";
import { describeError, formatPath, formatProblem, type Problem } from "../schema/problems.ts";
import { type ModuleSource, normalizePrefix, validateConfig } from "../schema/validate.ts";
import type {
  ApiSpec,
  BackendSpec,
  BreakerRuleSpec,
  ChainsSpec,
  HealthCheckSpec,
  HostnameSpec,
  OperationSpec,
  PassiveSpec,
  PolicyStepSpec,
  ProductSpec,
  Snapshot,
  SubscriptionKeysSpec,
  SubscriptionSpec,
} from "./snapshot.ts";

export { formatProblem, type Problem } from "../schema/problems.ts";
/** Replaces secret named values in text with `***` (the runtime's logs use it; see Snapshot.secrets). */
export { redactText } from "../schema/named-values.ts";
export type { HostPolicyName } from "../schema/policies.ts";
export type { BreakerErrorReason } from "../schema/resilience.ts";
/** validate-jwt's key handling, shared by the configuration (inline keys) and the gateway (JWKS keys). */
export { type JwkResult, JWT_ALGORITHMS, type SigningJwk, signingJwk } from "../schema/jwk.ts";
export type * from "./snapshot.ts";

/** Fuel per call and linear memory of a custom policy that names no budget: about a millisecond or two of tight loop, 16 MiB. */
export const DEFAULT_BUDGET = { fuel: 1_000_000, memoryBytes: 16 * 1024 * 1024 } as const;

/** The concurrency limit of a backend named by URL (set-backend-service `base-url`): the configuration's default. */
export const DEFAULT_CONCURRENCY: BackendSpec["concurrency"] = concurrencyOf(BackendConcurrency.parse({}));

/** The outcome of building a snapshot: the snapshot, or every problem that stops it. */
export type SnapshotResult = { ok: true; snapshot: Snapshot } | { ok: false; hash: string; problems: Problem[] };

/** Where a configuration's outside parts come from. */
export interface BuildOptions {
  /** The folder relative file paths are read from: the configuration file's (default: the working folder). */
  readonly baseDir?: string;
  /** Bytes of custom modules named by sha256 alone (from a control plane or a backup). */
  readonly moduleBytes?: (sha256: string) => Uint8Array | undefined;
}

/** Reads, validates and builds a configuration file (YAML or JSON); an unreadable file is a problem like any other. */
export function snapshotFromFile(path: string, options: BuildOptions = {}): SnapshotResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "file not found" : code === "EACCES" ? "permission denied" : describeError(error);
    return { ok: false, hash: "", problems: [{ path: "", message: `cannot read configuration: ${reason}`, location: path }] };
  }
  return snapshotFromText(text, path, options);
}

/** Validates and builds configuration text (YAML or JSON); `modules` says where custom modules may come from. */
export function snapshotFromText(text: string, source: string, options: BuildOptions & { modules?: ModuleSource } = {}): SnapshotResult {
  const readNamedValue = options.modules === "digest" ? undefined : localNamedValueReader(options.baseDir ?? ".");
  return buildSnapshot(loadConfigText(text, source, { modules: options.modules, readNamedValue }), options);
}

/** Validates and builds a control plane's view or a backup (JSON, modules by sha256). */
export function snapshotFromJson(text: string, source: string, options: BuildOptions = {}): SnapshotResult {
  return buildSnapshot(loadConfigJson(text, source, { modules: "digest" }), options);
}

/**
 * Validates and builds a configuration given as a parsed value (tests, benchmarks, generated
 * configurations); its hash is that of its JSON text.
 */
export function snapshotFromValue(input: unknown, source = "value", options: BuildOptions & { modules?: ModuleSource } = {}): SnapshotResult {
  const hash = contentHash(JSON.stringify(input));
  const readNamedValue = options.modules === "digest" ? undefined : localNamedValueReader(options.baseDir ?? ".");
  const result = validateConfig(input, { modules: options.modules, readNamedValue });
  return buildSnapshot(
    result.ok ? { ok: true, config: result.config, hash, source, namedValues: result.namedValues } : { ok: false, hash, problems: result.problems },
    options,
  );
}

/** A snapshot that must build: for tests and benchmarks, where a problem is a bug in the caller (thrown with every problem). */
export function mustBuild(result: SnapshotResult): Snapshot {
  if (!result.ok) throw new Error(`the configuration does not build:\n${result.problems.map(formatProblem).join("\n")}`);
  return result.snapshot;
}

/**
 * Parses and validates configuration text whose custom modules are named by sha256 alone (a control
 * plane's view in JSON, or a backup of one in either format), without building it yet: the gateway
 * first fetches the modules it names (`moduleDigests`), then builds the snapshot.
 */
export function loadView(text: string, source: string, format: "json" | "yaml" = "json"): LoadResult {
  return (format === "json" ? loadConfigJson : loadConfigText)(text, source, { modules: "digest" });
}

/** The sha256 digests of the custom modules a loaded configuration names (none when it did not load). */
export function moduleDigests(loaded: LoadResult): string[] {
  if (!loaded.ok) return [];
  return Object.values(loaded.config.policies).flatMap((p) => (p.sha256 === undefined ? [] : [p.sha256]));
}

/** The hash a result stands for: the configuration's source bytes, built or not. */
export function resultHash(result: SnapshotResult): string {
  return result.ok ? result.snapshot.hash : result.hash;
}

/** Builds the snapshot of a loaded configuration, or passes its problems on. */
export function buildSnapshot(loaded: LoadResult, options: BuildOptions = {}): SnapshotResult {
  if (!loaded.ok) return loaded;
  const builder = new Builder(loaded.config, options, loaded.namedValues ?? new Map());
  const snapshot = builder.build(loaded.hash, loaded.source);
  return builder.problems.length ? { ok: false, hash: loaded.hash, problems: builder.problems } : { ok: true, snapshot };
}

/** The sha256 (hex) of configuration text or module bytes. */
export { contentHash };

/**
 * A host name's certificate and key read from two files (or PEM text) and checked, for listeners
 * outside any configuration (the control plane's `--tls-cert`/`--tls-key`). Throws an Error naming
 * the file and what is wrong.
 */
export function hostnameFromFiles(host: string, cert: string, key: string): HostnameSpec {
  const pair = readCertificatePair({ host, cert, key }, ".");
  return { host, ...pair, negotiateClientCertificate: false, clientCa: undefined };
}

type PolicyUse = Exclude<NonNullable<PolicySectionsConfig["inbound"]>[number], "base">;

/** A scope's uses per section, with its parent scope's already folded in. */
interface Uses {
  readonly inbound: PolicyUse[];
  readonly backend: PolicyUse[];
  readonly outbound: PolicyUse[];
  readonly onError: PolicyUse[];
}

const NO_USES: Uses = { inbound: [], backend: [], outbound: [], onError: [] };

/** A child scope's uses with its parent's: where it says `base`, else parent first (APIM's rule). */
function inherit(child: PolicySectionsConfig[keyof PolicySectionsConfig], parent: readonly PolicyUse[]): PolicyUse[] {
  if (!child) return [...parent];
  if (child.includes("base")) return child.flatMap((use) => (use === "base" ? parent : [use]));
  return [...parent, ...(child as PolicyUse[])];
}

function scopeUses(sections: PolicySectionsConfig | undefined, parent: Uses): Uses {
  return {
    inbound: inherit(sections?.inbound, parent.inbound),
    backend: inherit(sections?.backend, parent.backend),
    outbound: inherit(sections?.outbound, parent.outbound),
    onError: inherit(sections?.["on-error"], parent.onError),
  };
}

function concurrencyOf(c: { max: number; queue: number; queueTimeout: number }): BackendSpec["concurrency"] {
  return { max: c.max, queue: c.queue, queueTimeoutMs: c.queueTimeout };
}

type BackendConfig = Config["backends"][string];

function healthOf(h: BackendConfig["health"]): HealthCheckSpec | undefined {
  if (!h) return undefined;
  return {
    path: h.path,
    intervalMs: h.interval,
    timeoutMs: h.timeout,
    healthyThreshold: h["healthy-threshold"],
    unhealthyThreshold: h["unhealthy-threshold"],
    expectedStatus: h["expected-status"],
  };
}

/** Passive ejection is on for pools of more than one member unless `passive: false`; one URL has it only when asked. */
function passiveOf(p: BackendConfig["passive"], members: number): PassiveSpec | undefined {
  if (p === false || (p === undefined && members === 1)) return undefined;
  const resolved = p ?? BackendPassive.parse({});
  return { consecutiveFailures: resolved["consecutive-failures"], ejectionMs: resolved.ejection };
}

function breakerRuleOf(rule: CircuitBreakerConfig["rules"][number]): BreakerRuleSpec {
  const c = rule.failureCondition;
  return {
    name: rule.name,
    count: c.count,
    percentage: c.percentage,
    minimumRequests: c.minimumRequests ?? DEFAULT_MINIMUM_REQUESTS,
    intervalMs: c.interval,
    statusCodeRanges: c.statusCodeRanges,
    errorReasons: c.errorReasons,
    tripDurationMs: rule.tripDuration,
    acceptRetryAfter: rule.acceptRetryAfter,
  };
}

/** A custom policy's parameters as strings: scalars as written, anything else as JSON. */
export function customPolicyConfig(params: Record<string, unknown> | undefined): Record<string, string> {
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(params ?? {})) config[key] = typeof value === "string" ? value : JSON.stringify(value);
  return config;
}

/** The keyed hash of a subscription key: HMAC-SHA256 with the salt's bytes as the HMAC key, hex (the control plane makes the same). */
export function subscriptionKeyDigest(saltHex: string, key: string): string {
  return createHmac("sha256", Buffer.from(saltHex, "hex")).update(key).digest("hex");
}

function scopeOf(scope: string): SubscriptionSpec["scope"] {
  if (scope.startsWith("product:")) return { kind: "product", name: scope.slice(8) };
  if (scope.startsWith("api:")) return { kind: "api", name: scope.slice(4) };
  return { kind: "all-apis" };
}

/** Builds one snapshot, collecting every problem instead of stopping at the first. */
class Builder {
  readonly problems: Problem[] = [];
  readonly #files = new Set<string>();
  readonly #modules = new Map<string, Uint8Array>();
  /** Custom modules already resolved, by policy name (each is read and hashed once). */
  readonly #custom = new Map<string, PolicyStepSpec["module"] | undefined>();
  readonly #baseDir: string;

  /** The secret named values' text: steps whose parameters hold one say which, and the snapshot lists them for redaction. */
  readonly #secrets: ReadonlySet<string>;

  constructor(
    private readonly config: Config,
    private readonly options: BuildOptions,
    namedValues: ResolvedNamedValues,
  ) {
    this.#baseDir = options.baseDir ?? ".";
    this.#secrets = new Set([...namedValues.values()].flatMap((v) => (v.secret ? [v.value] : [])));
    for (const value of namedValues.values()) if (value.file !== undefined) this.#files.add(value.file);
  }

  build(hash: string, source: string): Snapshot {
    const { config } = this;
    const backends = new Map<string, BackendSpec>();
    for (const [name, backend] of Object.entries(config.backends)) {
      const tls = backend.tls
        ? this.#read(["backends", name, "tls"], backend.tls, (b) => readBackendTls(name, b, this.#baseDir), [backend.tls.ca, backend.tls.cert, backend.tls.key])
        : undefined;
      const breaker = backend.circuitBreaker && { circuitBreaker: { rules: backend.circuitBreaker.rules.map(breakerRuleOf) } };
      const members = backend.urls.map((u) => (typeof u === "string" ? { url: u, weight: 1, priority: 0 } : u));
      backends.set(name, {
        name,
        urls: members.map((m) => m.url),
        members,
        health: healthOf(backend.health),
        passive: passiveOf(backend.passive, members.length),
        timeoutMs: backend.timeout,
        concurrency: concurrencyOf(backend.concurrency),
        tls,
        http2: backend.protocol === "http2",
        ...breaker,
      });
    }
    const globalUses = scopeUses(config.global?.policies, NO_USES);
    const products = new Map<string, ProductSpec>();
    for (const p of config.products) {
      products.set(p.name, { name: p.name, apis: new Set(p.apis), published: p.state === "published", subscriptionRequired: p.subscriptionRequired });
    }
    const apis = config.apis.map((api) => this.#api(api, globalUses));
    const subscriptions = new Map<string, SubscriptionSpec>();
    for (const sub of config.subscriptions) {
      subscriptions.set(sub.name, { name: sub.name, scope: scopeOf(sub.scope), state: sub.state, expiresAt: sub.expires });
    }
    const subscriptionKeys = this.#subscriptionKeys(hash);
    const hostnames: HostnameSpec[] = [];
    config.hostnames.forEach((h, i) => {
      const pair = this.#read(["hostnames", i], h, () => readCertificatePair(h, this.#baseDir), [h.cert, h.key]);
      const clientCa = h.clientCa === undefined
        ? undefined
        : this.#read(["hostnames", i, "clientCa"], h, () => readCaBundle(h.clientCa!, this.#baseDir, `hostname ${h.host} (clientCa)`), [h.clientCa]);
      if (pair) {
        hostnames.push({
          host: h.host,
          cert: pair.cert,
          key: pair.key,
          notAfter: pair.notAfter,
          negotiateClientCertificate: h.negotiateClientCertificate,
          clientCa,
        });
      }
    });
    return Object.freeze({
      hash,
      source,
      apis,
      backends,
      hostnames,
      products,
      subscriptions,
      subscriptionKeys,
      modules: this.#modules,
      files: [...this.#files],
      secrets: this.#secrets,
    });
  }

  #api(api: ApiConfig, globalUses: Uses): ApiSpec {
    const apiUses = scopeUses(api.policies, globalUses);
    // APIM's order for a call through a product: global, product, API, operation (each with `base`).
    const productUses = new Map<string, Uses>();
    for (const product of this.config.products) {
      if (product.policies && product.apis.includes(api.name)) {
        productUses.set(product.name, scopeUses(api.policies, scopeUses(product.policies, globalUses)));
      }
    }
    const perProduct = (each: (uses: Uses) => ChainsSpec) => new Map([...productUses].map(([name, uses]) => [name, each(uses)]));
    const operations = api.operations?.map(
      (op, j): OperationSpec => ({
        name: op.name ?? `${op.method.toLowerCase()}-${j}`,
        method: op.method,
        url: op.url,
        chains: this.#chains(scopeUses(op.policies, apiUses)),
        productChains: perProduct((uses) => this.#chains(scopeUses(op.policies, uses))),
      }),
    );
    const openProduct = this.config.products.find((p) => !p.subscriptionRequired && p.apis.includes(api.name))?.name;
    return {
      name: api.name,
      prefix: normalizePrefix(api.path),
      hosts: api.hosts,
      backend: api.backend,
      operations,
      chains: this.#chains(apiUses),
      productChains: perProduct((uses) => this.#chains(uses)),
      access: {
        keyRequired: api.subscriptionRequired && openProduct === undefined,
        openProduct,
        header: api.subscriptionKey.header.toLowerCase(),
        query: api.subscriptionKey.query,
      },
    };
  }

  /**
   * Every subscription key as a keyed hash. Keys a control plane sent come hashed already; keys
   * of a standalone file (text, an environment variable or a file) are hashed here with a salt
   * derived from the configuration, so the snapshot never holds a key. Two subscriptions may not
   * share a key.
   */
  #subscriptionKeys(hash: string): SubscriptionKeysSpec {
    const localSalt = createHash("sha256").update(`portico subscription keys\0${hash}`).digest("hex").slice(0, 32);
    const bySalt = new Map<string, Map<string, { subscription: string; key: "primary" | "secondary" }>>();
    const where = new Map<string, string>();
    this.config.subscriptions.forEach((sub, i) => {
      for (const key of ["primary", "secondary"] as const) {
        const field = `${key}Key` as const;
        const configured = sub[field];
        if (configured === undefined) continue;
        const hashed = this.#keyHash(configured, localSalt, ["subscriptions", i, field]);
        if (!hashed) continue;
        const id = `${hashed.salt}:${hashed.digest}`;
        const same = where.get(id);
        if (same) {
          this.#problem(["subscriptions", i, field], `the same key as ${same}; every key must belong to one subscription`);
          continue;
        }
        where.set(id, formatPath(["subscriptions", i, field]));
        let digests = bySalt.get(hashed.salt);
        if (!digests) bySalt.set(hashed.salt, digests = new Map());
        digests.set(hashed.digest, { subscription: sub.name, key });
      }
    });
    return { bySalt };
  }

  /** A key's salt and digest: as given by a control plane, or computed from the key (never reported in a problem). */
  #keyHash(key: SubscriptionKeyConfig, salt: string, path: (string | number)[]): { salt: string; digest: string } | undefined {
    if (typeof key === "object" && "hash" in key) {
      const [, given, digest] = key.hash.split(":");
      return { salt: given!, digest: digest! };
    }
    let text: string | undefined;
    if (typeof key === "string") text = key;
    else if ("env" in key) {
      text = process.env[key.env];
      if (text === undefined) return void this.#problem(path, `environment variable ${key.env} is not set`);
    } else {
      const file = resolve(this.#baseDir, key.file);
      this.#files.add(file);
      try {
        text = readFileSync(file, "utf8").replace(/\r?\n$/, "");
      } catch (error) {
        return void this.#problem(path, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`);
      }
    }
    if (text.length < MIN_KEY_LENGTH || text.length > 256 || !/^[\x21-\x7e]+$/.test(text)) {
      return void this.#problem(path, `the key must be ${MIN_KEY_LENGTH} to 256 visible ASCII characters without spaces (its value is not shown)`);
    }
    return { salt, digest: subscriptionKeyDigest(salt, text) };
  }

  #chains(uses: Uses): ChainsSpec {
    const steps = (list: PolicyUse[]) => list.map((use) => this.#step(use));
    return { inbound: steps(uses.inbound), backend: steps(uses.backend), outbound: steps(uses.outbound), onError: steps(uses.onError) };
  }

  #step(use: PolicyUse): PolicyStepSpec {
    const custom = this.config.policies[use.policy];
    if (!custom) {
      const failure = use.failure ?? "closed";
      if (isHostPolicy(use.policy)) {
        const config = builtinPolicyConfig(use.policy, use.with);
        return { policy: use.policy, module: { kind: "host", name: use.policy }, failure, config, ...this.#secretKeys(config) };
      }
      const name = use.policy as WasmBuiltinName;
      const config = builtinPolicyConfig(name, use.with);
      const redisFailure = use["redis-failure"];
      return { policy: name, module: { kind: "builtin", name }, failure, ...(redisFailure ? { redisFailure } : {}), config, ...this.#secretKeys(config) };
    }
    const module = this.#customModule(use.policy, custom) ?? { kind: "custom" as const, sha256: "", budget: DEFAULT_BUDGET };
    const body = custom.body && { request: custom.body.request ?? 0, response: custom.body.response ?? 0 };
    const config = customPolicyConfig(use.with);
    return { policy: use.policy, module, failure: use.failure ?? custom.failure, config, ...this.#secretKeys(config), ...(body ? { body } : {}) };
  }

  /** `{ secrets: [keys] }` naming the parameters that hold a secret named value's text, or nothing when none does. */
  #secretKeys(config: Readonly<Record<string, string>>): { secrets?: readonly string[] } {
    if (!this.#secrets.size) return {};
    const keys = Object.keys(config).filter((key) => [...this.#secrets].some((secret) => config[key]!.includes(secret)));
    return keys.length ? { secrets: keys } : {};
  }

  /** A custom module's bytes (its file, or those received by sha256), checked against a given sha256. */
  #customModule(name: string, custom: Config["policies"][string]): PolicyStepSpec["module"] | undefined {
    if (this.#custom.has(name)) return this.#custom.get(name);
    const budget = { fuel: custom.budget?.fuel ?? DEFAULT_BUDGET.fuel, memoryBytes: custom.budget?.memory ?? DEFAULT_BUDGET.memoryBytes };
    const path = ["policies", name, custom.module === undefined ? "sha256" : "module"];
    let bytes: Uint8Array | undefined;
    if (custom.module === undefined) {
      bytes = this.options.moduleBytes?.(custom.sha256!);
      if (!bytes) this.#problem(path, `module sha256 ${custom.sha256} is not available`);
    } else {
      const file = resolve(this.#baseDir, custom.module);
      this.#files.add(file);
      try {
        bytes = readFileSync(file);
      } catch (error) {
        this.#problem(path, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`);
      }
    }
    let module: PolicyStepSpec["module"] | undefined;
    if (bytes) {
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      if (custom.sha256 !== undefined && custom.sha256 !== sha256) {
        this.#problem(["policies", name, "sha256"], `the module's sha256 is ${sha256}, not ${custom.sha256}`);
      } else {
        this.#modules.set(sha256, bytes);
        module = { kind: "custom", sha256, budget };
      }
    }
    this.#custom.set(name, module);
    return module;
  }

  /** Runs a reader of files named in the configuration; its failure is a problem at `path`. Paths it names are watched. */
  #read<I, T>(path: (string | number)[], input: I, read: (input: I) => T, named: readonly (string | undefined)[]): T | undefined {
    for (const value of named) if (value !== undefined && !isPem(value)) this.#files.add(resolve(this.#baseDir, value));
    try {
      return read(input);
    } catch (error) {
      this.#problem(path, describeError(error));
      return undefined;
    }
  }

  #problem(parts: (string | number)[], message: string): void {
    this.problems.push({ path: formatPath(parts), parts, message });
  }
}
