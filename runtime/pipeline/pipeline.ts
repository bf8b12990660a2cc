import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { ApiConfig, Config, PolicySectionsConfig } from "../../config/schema/config.ts";
import { builtinPolicyConfig, type BuiltinPolicyName } from "../../config/schema/policies.ts";
import { builtinModuleBytes } from "../policy/builtins.ts";
import { NO_POLICIES, PolicyChain, PolicySteps, type PolicyStep } from "../policy/chain.ts";
import { DEFAULT_BUDGET, PolicyModuleCache } from "../policy/extism.ts";
import { Router } from "../router/router.ts";
import { CertificateSet } from "../tls/certificates.ts";
import { BackendPool } from "./backend.ts";
import { BackendGates } from "./backend-gate.ts";

/** The policy chains that run around one operation (or a whole API without operations). */
export interface Chains {
  /** `inbound` then `backend` sections: `on_request` before the backend is called. */
  readonly request: PolicyChain;
  /** `outbound` section: `on_response` once the backend has answered. */
  readonly response: PolicyChain;
  /** `on-error` section: `on_error` when a policy or the backend failed, on the gateway's error answer. */
  readonly error: PolicyChain;
}

/** What a route leads to: the API, its backend pool and its policy chains. */
export interface ApiTarget {
  readonly api: ApiConfig;
  readonly backend: BackendPool;
  /** Chains for requests that match no listed operation (APIs without operations). */
  readonly chains: Chains;
  /** Chains per operation, by the operation's position in the API's list. */
  readonly operationChains: readonly Chains[];
}

type PolicyUse = Exclude<NonNullable<PolicySectionsConfig["inbound"]>[number], "base">;

/** A child scope's uses with its parent's: where it says `base`, else parent first. */
function inherit(child: PolicySectionsConfig[keyof PolicySectionsConfig], parent: readonly PolicyUse[]): PolicyUse[] {
  if (!child) return [...parent];
  if (child.includes("base")) return child.flatMap((use) => (use === "base" ? parent : [use]));
  return [...parent, ...(child as PolicyUse[])];
}

/** The policy uses of one scope, per section, with the parent scope's already folded in. */
interface Uses {
  readonly inbound: PolicyUse[];
  readonly backend: PolicyUse[];
  readonly outbound: PolicyUse[];
  readonly onError: PolicyUse[];
}

const NO_USES: Uses = { inbound: [], backend: [], outbound: [], onError: [] };

function scopeUses(sections: PolicySectionsConfig | undefined, parent: Uses): Uses {
  return {
    inbound: inherit(sections?.inbound, parent.inbound),
    backend: inherit(sections?.backend, parent.backend),
    outbound: inherit(sections?.outbound, parent.outbound),
    onError: inherit(sections?.["on-error"], parent.onError),
  };
}

/**
 * One configuration, compiled: the route table, backend pools and policy instances. Immutable once
 * built; a new configuration makes a new pipeline, and requests keep the one they started with.
 */
export class Pipeline {
  /** Requests being handled on this pipeline (from route match until the response chain is done). */
  #inflight = 0;
  #whenDrained: (() => void) | undefined;

  private constructor(
    readonly config: Config,
    /** Increases by one with every configuration this process applies. */
    readonly revision: number,
    /** sha256 of the configuration's source bytes. */
    readonly hash: string,
    readonly router: Router<ApiTarget>,
    readonly backends: ReadonlyMap<string, BackendPool>,
    /** The policy instances this pipeline uses, shared between uses with the same parameters. */
    readonly steps: PolicySteps,
    /** Server certificates by host name for the HTTPS listener; undefined without `hostnames`. */
    readonly certificates: CertificateSet | undefined,
    /** Keys of the custom policy modules this pipeline uses (what the module cache keeps). */
    readonly moduleKeys: ReadonlySet<string>,
  ) {
    let longest = 0;
    for (const backend of backends.values()) longest = Math.max(longest, backend.timeoutMs);
    this.longestTimeoutMs = longest;
    Object.freeze(this);
  }

  /** The longest backend timeout of this configuration: how long a request may wait without traffic on its connection. */
  readonly longestTimeoutMs: number;

  /**
   * Compiles a validated configuration: server certificates, backends, policy instances (modules
   * compiled once per digest; custom module and certificate files resolved against `baseDir`, the
   * configuration file's folder), routes.
   */
  static async compile(config: Config, revision: number, hash: string, modules: PolicyModuleCache, options: CompileOptions = {}): Promise<Pipeline> {
    // Certificates first: reading and checking them cannot leave anything to clean up.
    const certificates = CertificateSet.load(config.hostnames, options.baseDir ?? ".");
    const steps = new PolicySteps(options.previousSteps);
    const load: PolicyLoader = { config, modules, steps, baseDir: options.baseDir ?? ".", moduleBytes: options.moduleBytes, moduleKeys: new Set() };
    const backends = new Map<string, BackendPool>();
    for (const [name, backend] of Object.entries(config.backends)) {
      const { max, queue, queueTimeout } = backend.concurrency;
      const gate = options.gates?.gate(name, { max, queue, queueTimeoutMs: queueTimeout });
      backends.set(name, new BackendPool(name, backend, options.baseDir, gate));
    }
    const targets = new Map<ApiConfig, ApiTarget>();
    try {
      const globalUses = scopeUses(config.global?.policies, NO_USES);
      for (const api of config.apis) {
        const apiUses = scopeUses(api.policies, globalUses);
        const operationChains = await Promise.all((api.operations ?? []).map((op) => chains(scopeUses(op.policies, apiUses), load)));
        targets.set(api, { api, backend: backends.get(api.backend)!, chains: await chains(apiUses, load), operationChains });
      }
    } catch (error) {
      steps.discard();
      throw error;
    }
    const router = new Router(config.apis, (api) => targets.get(api)!);
    steps.release();
    return new Pipeline(config, revision, hash, router, backends, steps, certificates, load.moduleKeys);
  }

  /** Marks a request as using this pipeline; every `enter` is followed by one `leave`. */
  enter(): void {
    this.#inflight += 1;
  }

  /** Marks a request as done with this pipeline (its policies have run; its body may still stream). */
  leave(): void {
    this.#inflight -= 1;
    if (this.#inflight === 0 && this.#whenDrained) {
      const done = this.#whenDrained;
      this.#whenDrained = undefined;
      done();
    }
  }

  /** Resolves once no request is using this pipeline; callers use it after it was replaced. */
  drained(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const before = this.#whenDrained;
      this.#whenDrained = () => {
        before?.();
        resolve();
      };
    });
  }
}

/** What compiling policy uses needs: the configuration (custom modules), the module cache, and where files are. */
interface PolicyLoader {
  readonly config: Config;
  readonly modules: PolicyModuleCache;
  readonly steps: PolicySteps;
  readonly baseDir: string;
  readonly moduleBytes: CompileOptions["moduleBytes"];
  /** Keys of the custom modules used so far. */
  readonly moduleKeys: Set<string>;
}

/** Options for compiling a pipeline. */
export interface CompileOptions {
  /** Folder that custom module paths are relative to: the configuration file's. */
  readonly baseDir?: string;
  /** The live configuration's policy steps, reused where unchanged. */
  readonly previousSteps?: PolicySteps;
  /** Bytes of custom modules named by sha256 alone (from a control plane or a backup). */
  readonly moduleBytes?: (sha256: string) => Uint8Array | undefined;
  /** The gateway's backend gates by name, so concurrency limits hold across swaps; else each pool has its own. */
  readonly gates?: BackendGates;
}

async function chains(uses: Uses, load: PolicyLoader): Promise<Chains> {
  const request = [...uses.inbound, ...uses.backend];
  if (request.length === 0 && uses.outbound.length === 0 && uses.onError.length === 0) return NO_POLICIES;
  const steps = (list: PolicyUse[]) => Promise.all(list.map((use) => step(use, load)));
  const onError = await steps(uses.onError);
  // A policy in on-error must be able to run there: a module without on_error would be passed over silently.
  const missing = onError.find((s) => !s.has("on_error"));
  if (missing) throw new Error(`policy "${missing.name}" is used in on-error but its module has no on_error hook`);
  return {
    request: new PolicyChain(await steps(request), "on_request"),
    response: new PolicyChain(await steps(uses.outbound), "on_response"),
    error: new PolicyChain(onError, "on_error"),
  };
}

/** A custom module's bytes and where they came from: its file, or the modules received by sha256. */
function customModuleBytes(name: string, custom: Config["policies"][string], { baseDir, moduleBytes }: PolicyLoader): { bytes: Uint8Array; from: string } {
  if (custom.module === undefined) {
    const bytes = moduleBytes?.(custom.sha256!);
    if (!bytes) throw new Error(`policy "${name}": module sha256 ${custom.sha256} is not available`);
    return { bytes, from: `sha256 ${custom.sha256!.slice(0, 12)}` };
  }
  const file = resolve(baseDir, custom.module);
  try {
    return { bytes: readFileSync(file), from: file };
  } catch (error) {
    throw new Error(`policy "${name}": cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

async function step(use: PolicyUse, load: PolicyLoader): Promise<PolicyStep> {
  const { config, modules, steps } = load;
  const custom = config.policies[use.policy];
  if (!custom) {
    const name = use.policy as BuiltinPolicyName;
    const module = await modules.builtin(name, () => builtinModuleBytes(name));
    return steps.get(name, use.failure ?? "closed", module, { config: builtinPolicyConfig(name, use.with) });
  }
  const { bytes, from } = customModuleBytes(use.policy, custom, load);
  const budget = { fuel: custom.budget?.fuel ?? DEFAULT_BUDGET.fuel, memoryBytes: custom.budget?.memory ?? DEFAULT_BUDGET.memoryBytes };
  const module = await modules.compile(bytes, custom.sha256, budget).catch((error: Error) => {
    throw new Error(`policy "${use.policy}" (${from}): ${error.message}`);
  });
  load.moduleKeys.add(module.key);
  const body = custom.body && { request: custom.body.request ?? 0, response: custom.body.response ?? 0 };
  return steps.get(use.policy, use.failure ?? custom.failure, module, { config: customPolicyConfig(use.with) }, body);
}

/** A custom policy's parameters as strings: scalars as written, anything else as JSON (also used by `portico policy test`). */
export function customPolicyConfig(params: Record<string, unknown> | undefined): Record<string, string> {
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(params ?? {})) config[key] = typeof value === "string" ? value : JSON.stringify(value);
  return config;
}

/**
 * Holds the live pipeline. The request path reads `current` once per request; a swap replaces the
 * reference, so a request never sees half of one configuration and half of another.
 */
export class PipelineHolder {
  #current: Pipeline | undefined;
  #revision = 0;
  /** Policy modules compiled so far, shared by every pipeline of this process. */
  readonly modules = new PolicyModuleCache();
  /** Concurrency gates of the backends by name, shared by every pipeline of this process. */
  readonly gates = new BackendGates();

  get current(): Pipeline | undefined {
    return this.#current;
  }

  /**
   * Compiles a validated configuration and makes it live; rejects (and changes nothing) if compiling
   * fails. The replaced pipeline keeps serving the requests that started on it; once they are done,
   * the policy instances the new pipeline does not share are closed.
   */
  async apply(config: Config, hash: string, options?: Omit<CompileOptions, "previousSteps" | "gates">): Promise<Pipeline> {
    const previous = this.#current;
    const pipeline = await Pipeline.compile(config, this.#revision + 1, hash, this.modules, { ...options, previousSteps: previous?.steps, gates: this.gates });
    this.gates.retain(new Set(Object.keys(config.backends)));
    this.#revision = pipeline.revision;
    this.#current = pipeline;
    this.modules.retain(pipeline.moduleKeys);
    if (previous) void previous.drained().then(() => previous.steps.closeUnused(pipeline.steps));
    return pipeline;
  }
}
