import type { ApiConfig, Config } from "../../config/schema/config.ts";
import { Router } from "../router/router.ts";
import { BackendPool } from "./backend.ts";

/** What a route leads to: the API's name and its backend pool. */
export interface ApiTarget {
  readonly api: ApiConfig;
  readonly backend: BackendPool;
}

/**
 * One configuration, compiled: the route table and backend pools. Immutable once built; a new
 * configuration makes a new pipeline, and requests keep the one they started with.
 */
export class Pipeline {
  readonly router: Router<ApiTarget>;
  readonly backends: ReadonlyMap<string, BackendPool>;
  readonly createdAt = Date.now();

  constructor(
    readonly config: Config,
    /** Increases by one with every configuration this process applies. */
    readonly revision: number,
    /** sha256 of the configuration's source bytes. */
    readonly hash: string,
  ) {
    const backends = new Map<string, BackendPool>();
    for (const [name, backend] of Object.entries(config.backends)) backends.set(name, new BackendPool(name, backend));
    this.backends = backends;
    this.router = new Router(config.apis, (api) => ({ api, backend: backends.get(api.backend)! }));
    Object.freeze(this);
  }
}

/**
 * Holds the live pipeline. The request path reads `current` once per request; a swap replaces the
 * reference, so a request never sees half of one configuration and half of another.
 */
export class PipelineHolder {
  #current: Pipeline | undefined;
  #revision = 0;

  get current(): Pipeline | undefined {
    return this.#current;
  }

  /** Compiles a validated configuration and makes it live; throws (and changes nothing) if compiling fails. */
  apply(config: Config, hash: string): Pipeline {
    const pipeline = new Pipeline(config, this.#revision + 1, hash);
    this.#revision = pipeline.revision;
    this.#current = pipeline;
    return pipeline;
  }
}
