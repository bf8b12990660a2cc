import type { ApiSpec, ChainsSpec, PolicyStepSpec, Snapshot } from "../../config/snapshot/build.ts";
import { builtinModuleBytes } from "../policy/builtins.ts";
import { type ChainStep, NO_POLICIES, PolicyChain, PolicySteps } from "../policy/chain.ts";
import { createHostStep, DEFAULT_HOST_CONTEXT, type HostPolicyContext } from "../policy/host.ts";
import { SharedCountingStep, type SharedStepContext } from "../policy/shared-step.ts";
import { SHARED_COUNTER_POLICIES } from "../../config/snapshot/snapshot.ts";
import { PolicyModuleCache } from "../policy/extism.ts";
import { Router } from "../router/router.ts";
import { SubscriptionKeys } from "../access/subscriptions.ts";
import { CertificateSet } from "../tls/certificates.ts";
import { BackendPool, UrlBackends } from "./backend.ts";
import { BackendGates } from "./backend-gate.ts";
import { BackendHealth } from "./health.ts";
import { CircuitBreaker, CircuitBreakers } from "./breaker.ts";

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
  readonly api: ApiSpec;
  readonly backend: BackendPool;
  /** Chains for requests that match no listed operation (APIs without operations). */
  readonly chains: Chains;
  /** Chains per operation, by the operation's position in the API's list. */
  readonly operationChains: readonly Chains[];
  /** The same through each product with policies (global → product → API → operation), by product name. */
  readonly productChains: ReadonlyMap<string, Chains>;
  readonly operationProductChains: readonly ReadonlyMap<string, Chains>[];
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
    /** The snapshot this pipeline was compiled from. */
    readonly snapshot: Snapshot,
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
    /**
     * The revision as the configuration's source numbers it: the control plane's (also when the
     * configuration came from a backup of its view); for a local file, `revision`. Access lines and
     * `/readyz` report this one, so a fleet's lines compare across gateways and restarts.
     */
    readonly appliedRevision: number,
  ) {
    let longest = 0;
    for (const backend of backends.values()) longest = Math.max(longest, backend.timeoutMs);
    this.longestTimeoutMs = Math.max(longest, longestForwardTimeout(snapshot));
    this.keys = new SubscriptionKeys(snapshot);
    this.checksKeys = snapshot.subscriptions.size > 0 || snapshot.products.size > 0 || snapshot.apis.some((a) => a.access.keyRequired);
    Object.freeze(this);
  }

  /** The longest backend timeout of this configuration (forward-request timeouts included): how long a request may wait without traffic on its connection. */
  readonly longestTimeoutMs: number;

  /** The subscription key check of this configuration. */
  readonly keys: SubscriptionKeys;
  /**
   * Whether requests are checked for subscription keys at all: only when the configuration has
   * subscriptions or products, or an API requires a key. Without any, a key header a client sends
   * passes to the backend untouched, as before subscriptions existed.
   */
  readonly checksKeys: boolean;

  /** Pools for base URLs that policies choose at request time, kept for this configuration's life. */
  readonly urlBackends = new UrlBackends();

  /**
   * Compiles a snapshot: server certificates, backends, policy instances (modules compiled once per
   * digest, instances reused from `previousSteps` where unchanged), routes. No file is read: the
   * snapshot carries everything.
   */
  static async compile(snapshot: Snapshot, revision: number, modules: PolicyModuleCache, options: CompileOptions = {}): Promise<Pipeline> {
    const certificates = CertificateSet.from(snapshot.hostnames);
    const steps = new PolicySteps(options.previousSteps);
    const load: PolicyLoader = { snapshot, modules, steps, moduleKeys: new Set(), host: options.host ?? DEFAULT_HOST_CONTEXT, shared: options.shared };
    const backends = new Map<string, BackendPool>();
    for (const [name, backend] of snapshot.backends) {
      const breaker = options.breakers
        ? options.breakers.breaker(name, backend.circuitBreaker)
        : backend.circuitBreaker && new CircuitBreaker(name, backend.circuitBreaker.rules);
      backends.set(name, new BackendPool(backend, options.gates?.gate(name, backend.concurrency), options.health, breaker));
    }
    const targets = new Map<ApiSpec, ApiTarget>();
    try {
      const byProduct = async (specs: ReadonlyMap<string, ChainsSpec>, where: string) =>
        new Map(
          await Promise.all([...specs].map(async ([product, spec]) => [product, await chains(spec, load, `${where} through product "${product}"`)] as const)),
        );
      for (const api of snapshot.apis) {
        const operations = api.operations ?? [];
        const here = `api "${api.name}"`;
        const atOperation = (op: { name: string }) => `${here}, operation "${op.name}"`;
        targets.set(api, {
          api,
          backend: backends.get(api.backend)!,
          chains: await chains(api.chains, load, here),
          operationChains: await Promise.all(operations.map((op) => chains(op.chains, load, atOperation(op)))),
          productChains: await byProduct(api.productChains, here),
          operationProductChains: await Promise.all(operations.map((op) => byProduct(op.productChains, atOperation(op)))),
        });
      }
    } catch (error) {
      steps.discard();
      throw error;
    }
    const router = new Router(snapshot.apis, (api) => targets.get(api)!);
    steps.release();
    return new Pipeline(snapshot, revision, snapshot.hash, router, backends, steps, certificates, load.moduleKeys, options.sourceRevision ?? revision);
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

/** The longest `timeout` a forward-request policy of a snapshot gives a backend call (0 when none does). */
function longestForwardTimeout(snapshot: Snapshot): number {
  let longest = 0;
  const scan = (spec: ChainsSpec) => {
    for (const use of [...spec.inbound, ...spec.backend]) {
      if (use.module.kind === "host" && use.module.name === "forward-request" && use.config.timeout !== undefined) {
        longest = Math.max(longest, Number(use.config.timeout));
      }
    }
  };
  for (const api of snapshot.apis) {
    scan(api.chains);
    for (const spec of api.productChains.values()) scan(spec);
    for (const op of api.operations ?? []) {
      scan(op.chains);
      for (const spec of op.productChains.values()) scan(spec);
    }
  }
  return longest;
}

/** What compiling policy steps needs: the snapshot (custom module bytes), the module cache, and the steps being made. */
interface PolicyLoader {
  readonly snapshot: Snapshot;
  readonly modules: PolicyModuleCache;
  readonly steps: PolicySteps;
  /** Keys of the custom modules used so far. */
  readonly moduleKeys: Set<string>;
  /** What built-ins run on the host (validate-jwt) use: fetch, log, counters. */
  readonly host: HostPolicyContext;
  /** The counters shared through Redis, when the settings name a Redis. */
  readonly shared?: SharedStepContext;
}

/** Options for compiling a pipeline. */
export interface CompileOptions {
  /** The live configuration's policy steps, reused where unchanged. */
  readonly previousSteps?: PolicySteps;
  /** The gateway's backend gates by name, so concurrency limits hold across swaps; else each pool has its own. */
  readonly gates?: BackendGates;
  /** The gateway's member health by backend and URL, so health and ejections hold across swaps; else each pool keeps its own. */
  readonly health?: BackendHealth;
  /** The gateway's circuit breakers by name, so their state holds across swaps; else each pool has its own. */
  readonly breakers?: CircuitBreakers;
  /** The fetch, log and counters of built-ins run on the host (validate-jwt); default: the global fetch, no log, no counters. */
  readonly host?: HostPolicyContext;
  /** The control plane's revision of this configuration, when it has one (`appliedRevision`). */
  readonly sourceRevision?: number;
  /** Counters and slots shared through Redis, for the rate-limits, quotas and limit-concurrency; undefined: all in-process. */
  readonly shared?: SharedStepContext;
}

/** The chains of one API or operation; `where` names it in the error of a built-in that cannot be made (a cache policy's missing store). */
async function chains(spec: ChainsSpec, load: PolicyLoader, where: string): Promise<Chains> {
  const request = [...spec.inbound, ...spec.backend];
  if (request.length === 0 && spec.outbound.length === 0 && spec.onError.length === 0) return NO_POLICIES;
  const steps = (list: readonly PolicyStepSpec[]) =>
    Promise.all(list.map((use) =>
      step(use, load).catch((error: unknown) => {
        throw use.module.kind === "host" && error instanceof Error ? new Error(`${where}: ${error.message}`, { cause: error }) : error;
      })
    ));
  const onError = await steps(spec.onError);
  // A policy in on-error must be able to run there: a module without on_error would be passed over silently.
  const missing = onError.find((s) => !s.has("on_error"));
  if (missing) throw new Error(`policy "${missing.name}" is used in on-error but its module has no on_error hook`);
  return {
    request: new PolicyChain(await steps(request), "on_request"),
    response: new PolicyChain(await steps(spec.outbound), "on_response"),
    error: new PolicyChain(onError, "on_error"),
  };
}

async function step(spec: PolicyStepSpec, load: PolicyLoader): Promise<ChainStep> {
  const { modules, steps } = load;
  const ref = spec.module;
  if (ref.kind === "host") {
    return steps.host(spec.policy, spec.failure, spec.config, () => createHostStep(ref.name, spec.policy, spec.failure, spec.config, load.host));
  }
  if (ref.kind === "builtin") {
    const module = await modules.builtin(ref.name, () => builtinModuleBytes(ref.name));
    const made = await steps.get(spec.policy, spec.failure, module, { config: spec.config });
    // With Redis, the rate-limits, quotas and limit-concurrency count there (one light wrapper per use; the instance is shared).
    const shared = load.shared && SHARED_COUNTER_POLICIES.get(ref.name);
    return shared ? new SharedCountingStep(made, spec.redisFailure ?? "open", load.shared, shared.silentWhenAccepted(spec.config)) : made;
  }
  const bytes = load.snapshot.modules.get(ref.sha256)!;
  const module = await modules.compile(bytes, ref.sha256, ref.budget).catch((error: Error) => {
    throw new Error(`policy "${spec.policy}" (sha256 ${ref.sha256.slice(0, 12)}): ${error.message}`);
  });
  load.moduleKeys.add(module.key);
  return steps.get(spec.policy, spec.failure, module, { config: spec.config }, spec.body);
}

/**
 * Holds the live pipeline. The request path reads `current` once per request; a swap replaces the
 * reference, so a request never sees half of one configuration and half of another.
 */
export class PipelineHolder {
  #current: Pipeline | undefined;

  /**
   * `host`: the fetch, log and counters of built-ins run on the host (validate-jwt), for every
   * pipeline; `shared`: the counters shared through Redis, when the settings name a Redis.
   */
  constructor(private readonly host?: HostPolicyContext, private readonly shared?: SharedStepContext) {}

  #revision = 0;
  /** Policy modules compiled so far, shared by every pipeline of this process. */
  readonly modules = new PolicyModuleCache();
  /** Concurrency gates of the backends by name, shared by every pipeline of this process. */
  readonly gates = new BackendGates();
  /** Health of the backends' members by backend and URL (active checks, passive ejection), shared by every pipeline of this process. */
  readonly health = new BackendHealth();
  /** Circuit breakers of the backends by name, shared by every pipeline of this process. */
  readonly breakers = new CircuitBreakers();

  get current(): Pipeline | undefined {
    return this.#current;
  }

  /**
   * Compiles a snapshot and makes it live; rejects (and changes nothing) if compiling fails. The replaced pipeline keeps serving the requests that started on it; once they are done,
   * the policy instances the new pipeline does not share are closed.
   */
  async apply(snapshot: Snapshot, sourceRevision?: number): Promise<Pipeline> {
    const previous = this.#current;
    const pipeline = await Pipeline.compile(snapshot, this.#revision + 1, this.modules, {
      previousSteps: previous?.steps,
      gates: this.gates,
      health: this.health,
      breakers: this.breakers,
      host: this.host,
      shared: this.shared,
      sourceRevision,
    });
    this.gates.retain(new Set(snapshot.backends.keys()));
    this.health.apply(snapshot.backends);
    this.breakers.retain(new Set(snapshot.backends.keys()));
    this.#revision = pipeline.revision;
    this.#current = pipeline;
    this.modules.retain(pipeline.moduleKeys);
    if (previous) void previous.drained().then(() => previous.steps.closeUnused(pipeline.steps));
    return pipeline;
  }
}
