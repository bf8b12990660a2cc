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
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { isPem, readBackendTls, readCaBundle, readCertificatePair } from "../certificates.ts";
import { contentHash, loadConfigJson, loadConfigText, type LoadResult } from "../load.ts";

export type { LoadResult } from "../load.ts";
import { type ApiConfig, BackendConcurrency, type Config, type PolicySectionsConfig } from "../schema/config.ts";
import { builtinPolicyConfig, isHostPolicy, type WasmBuiltinName } from "../schema/policies.ts";
import { describeError, formatPath, formatProblem, type Problem } from "../schema/problems.ts";
import { type ModuleSource, normalizePrefix, validateConfig } from "../schema/validate.ts";
import type { ApiSpec, BackendSpec, ChainsSpec, HostnameSpec, OperationSpec, PolicyStepSpec, Snapshot } from "./snapshot.ts";

export { formatProblem, type Problem } from "../schema/problems.ts";
export type { HostPolicyName } from "../schema/policies.ts";
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
  return buildSnapshot(loadConfigText(text, source, { modules: options.modules }), options);
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
  const result = validateConfig(input, { modules: options.modules });
  return buildSnapshot(result.ok ? { ok: true, config: result.config, hash, source } : { ok: false, hash, problems: result.problems }, options);
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
  const builder = new Builder(loaded.config, options);
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

/** A custom policy's parameters as strings: scalars as written, anything else as JSON. */
export function customPolicyConfig(params: Record<string, unknown> | undefined): Record<string, string> {
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(params ?? {})) config[key] = typeof value === "string" ? value : JSON.stringify(value);
  return config;
}

/** Builds one snapshot, collecting every problem instead of stopping at the first. */
class Builder {
  readonly problems: Problem[] = [];
  readonly #files = new Set<string>();
  readonly #modules = new Map<string, Uint8Array>();
  /** Custom modules already resolved, by policy name (each is read and hashed once). */
  readonly #custom = new Map<string, PolicyStepSpec["module"] | undefined>();
  readonly #baseDir: string;

  constructor(
    private readonly config: Config,
    private readonly options: BuildOptions,
  ) {
    this.#baseDir = options.baseDir ?? ".";
  }

  build(hash: string, source: string): Snapshot {
    const { config } = this;
    const backends = new Map<string, BackendSpec>();
    for (const [name, backend] of Object.entries(config.backends)) {
      const tls = backend.tls
        ? this.#read(["backends", name, "tls"], backend.tls, (b) => readBackendTls(name, b, this.#baseDir), [backend.tls.ca, backend.tls.cert, backend.tls.key])
        : undefined;
      backends.set(name, { name, urls: backend.urls, timeoutMs: backend.timeout, concurrency: concurrencyOf(backend.concurrency), tls });
    }
    const globalUses = scopeUses(config.global?.policies, NO_USES);
    const apis = config.apis.map((api) => this.#api(api, globalUses));
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
    return Object.freeze({ hash, source, apis, backends, hostnames, modules: this.#modules, files: [...this.#files] });
  }

  #api(api: ApiConfig, globalUses: Uses): ApiSpec {
    const apiUses = scopeUses(api.policies, globalUses);
    const operations = api.operations?.map(
      (op, j): OperationSpec => ({
        name: op.name ?? `${op.method.toLowerCase()}-${j}`,
        method: op.method,
        url: op.url,
        chains: this.#chains(scopeUses(op.policies, apiUses)),
      }),
    );
    return {
      name: api.name,
      prefix: normalizePrefix(api.path),
      hosts: api.hosts,
      backend: api.backend,
      operations,
      chains: this.#chains(apiUses),
    };
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
        return { policy: use.policy, module: { kind: "host", name: use.policy }, failure, config: builtinPolicyConfig(use.policy, use.with) };
      }
      const name = use.policy as WasmBuiltinName;
      return { policy: name, module: { kind: "builtin", name }, failure, config: builtinPolicyConfig(name, use.with) };
    }
    const module = this.#customModule(use.policy, custom) ?? { kind: "custom" as const, sha256: "", budget: DEFAULT_BUDGET };
    const body = custom.body && { request: custom.body.request ?? 0, response: custom.body.response ?? 0 };
    return { policy: use.policy, module, failure: use.failure ?? custom.failure, config: customPolicyConfig(use.with), ...(body ? { body } : {}) };
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
