import type { z } from "zod";
import { Api, type ApiConfig, type Config, ConfigShape, Operation, type PolicySectionsConfig, Product, SHARED_COUNTER_POLICIES } from "./config.ts";
import { Subscription } from "./consumers.ts";
import { keysAt } from "./introspect.ts";
import {
  type NamedValueReader,
  type NamedValueResolution,
  plainNamedValueProblems,
  redactProblems,
  replaceAt,
  type ResolvedNamedValues,
  resolveNamedValues,
  substituteNamedValues,
  typedScalar,
} from "./named-values.ts";
import { BUILTIN_POLICY_PARAMS, type BuiltinPolicyName, HOST_POLICY_SECTIONS, isHostPolicy } from "./policies.ts";
import { formatPath, type Problem, problemsFromZod, showValue, suggest } from "./problems.ts";

/** Built-in policy names this version ships. */
export const BUILTIN_POLICIES: ReadonlySet<string> = new Set(Object.keys(BUILTIN_POLICY_PARAMS));

/**
 * Where custom policy modules come from: `file` (standalone: a module path, sha256 optional),
 * `digest` (a gateway fed by a control plane: a sha256 only, never a local path), or `any` (the
 * control plane's desired configuration: a path, or the digest of a module it already stores).
 */
export type ModuleSource = "file" | "digest" | "any";

/** Options for validating a configuration. */
export interface ValidateOptions {
  /** Default `file`. */
  readonly modules?: ModuleSource;
  /**
   * Reads `{ env }` and `{ file }` named values (the caller knows the environment and the folder);
   * without one they are problems. Never used with `modules: "digest"`: a gateway fed by a control
   * plane takes named values inline only, as the control plane resolved them.
   */
  readonly readNamedValue?: NamedValueReader;
}

/**
 * The result of validating a configuration: the typed config (every `{{name}}` in policy parameters
 * replaced) with its named values resolved, or every problem found (secrets redacted).
 */
export type Validation = { ok: true; config: Config; namedValues: ResolvedNamedValues } | { ok: false; problems: Problem[] };

/**
 * Validates a parsed document (from YAML or JSON) as a whole: shape first, then cross-references
 * (backends, duplicates, overlapping routes, policy names). Reports every problem, never just the first.
 */
export function validateConfig(input: unknown, { modules = "file", readNamedValue }: ValidateOptions = {}): Validation {
  const named = resolveNamedValues(isMap(input) ? input.namedValues : undefined, {
    read: modules === "digest" ? undefined : readNamedValue,
    refusal: modules === "digest" ? "a gateway fed by a control plane takes named values inline only (the control plane reads env and file values)" : undefined,
  });
  const secretPaths: string[] = [];
  const parsed = ConfigShape.safeParse(input ?? {});
  if (!parsed.success) {
    // Cross-references are still checked, on the parts whose shape is right, so that one run lists every problem.
    const shape = plainNamedValueProblems(
      problemsFromZod(parsed.error.issues, input, (path) => keysAt(ConfigShape, path)),
      isMap(input) ? input.namedValues : undefined,
    );
    const problems = [...shape, ...named.problems, ...checkReferences(salvage(input), modules, named, secretPaths)];
    return { ok: false, problems: redactProblems(problems, named.secrets, secretPaths) };
  }
  const problems = [...named.problems, ...checkReferences(parsed.data, modules, named, secretPaths)];
  return problems.length
    ? { ok: false, problems: redactProblems(problems, named.secrets, secretPaths) }
    : { ok: true, config: parsed.data, namedValues: named.values };
}

function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The fields of `raw` that are valid on their own; a field present but invalid is left out. */
function validFields(shape: Record<string, z.ZodType>, raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(shape)) {
    if (!Object.hasOwn(raw, key)) continue;
    const field = schema.safeParse(raw[key]);
    if (field.success) out[key] = field.data;
  }
  return out;
}

/**
 * The parts of a document whose shape is right, item by item and field by field, with the indexes
 * of the document kept (`undefined` where an item is unusable). Checks that need a part that is
 * missing or broken are skipped: its shape problem is reported already.
 */
function salvage(input: unknown): Config {
  const doc = isMap(input) ? input : {};
  const backends = isMap(doc.backends) ? doc.backends : undefined;
  const policies = isMap(doc.policies) ? doc.policies : undefined;
  const apis = Array.isArray(doc.apis)
    ? doc.apis.map((raw) => {
      if (!isMap(raw)) return undefined;
      const api = validFields(Api.shape, raw);
      if (Object.hasOwn(raw, "hosts") && api.hosts === undefined) delete api.path; // unknown hosts: no route check
      if (!backends) delete api.backend;
      if (!policies) delete api.policies;
      if (Array.isArray(raw.operations) && api.operations === undefined) {
        api.operations = raw.operations.map((op) => (isMap(op) ? validFields(Operation.shape, op) : undefined));
      }
      return api;
    })
    : [];
  const gateways: Record<string, { apis: (string | undefined)[] }> = {};
  if (Array.isArray(doc.apis) && isMap(doc.gateways)) {
    for (const [name, raw] of Object.entries(doc.gateways)) {
      if (isMap(raw) && Array.isArray(raw.apis)) {
        gateways[name] = { apis: raw.apis.map((a) => (Api.shape.name.safeParse(a).success ? (a as string) : undefined)) };
      }
    }
  }
  // Products and subscriptions are checked against APIs only when their own shape is right.
  const products = Array.isArray(doc.products) ? doc.products.map((raw) => (isMap(raw) ? validFields(Product.shape, raw) : undefined)) : [];
  if (!policies) { for (const product of products) if (product) delete product.policies; }
  const subscriptions = Array.isArray(doc.subscriptions) ? doc.subscriptions.map((raw) => (isMap(raw) ? validFields(Subscription.shape, raw) : undefined)) : [];
  return { apis, backends: backends ?? {}, hostnames: [], policies: policies ?? {}, gateways, products, subscriptions } as unknown as Config;
}

function problem(parts: PropertyKey[], message: string): Problem {
  return { path: formatPath(parts), parts, message };
}

function knownList(names: Iterable<string>): string {
  const list = [...names];
  return list.length ? list.join(", ") : "none defined";
}

function checkReferences(config: Config, modules: ModuleSource, named: NamedValueResolution, secretPaths: string[]): Problem[] {
  const problems: Problem[] = [];
  const backendNames = Object.keys(config.backends);
  const apiIndex = new Map<string, number>();
  const routeOwner = new Map<string, number>();

  config.apis.forEach((api, i) => {
    if (!api) return;
    if (api.name !== undefined) {
      const seen = apiIndex.get(api.name);
      if (seen !== undefined) problems.push(problem(["apis", i, "name"], `duplicate API name ${showValue(api.name)} (also apis[${seen}])`));
      else apiIndex.set(api.name, i);
    }

    if (api.backend !== undefined && !Object.hasOwn(config.backends, api.backend)) {
      const hint = suggest(api.backend, backendNames);
      problems.push(
        problem(
          ["apis", i, "backend"],
          `unknown backend ${showValue(api.backend)} (${hint ? `did you mean "${hint}"? ` : ""}known: ${knownList(backendNames)})`,
        ),
      );
    }

    for (const host of api.path === undefined ? [] : (api.hosts ?? ["*"])) {
      const key = `${host} ${normalizePrefix(api.path)}`;
      const owner = routeOwner.get(key);
      if (owner !== undefined) {
        const on = host === "*" ? "any host" : `host ${host}`;
        const name = config.apis[owner]!.name;
        problems.push(
          problem(
            ["apis", i, "path"],
            `${showValue(api.path)} on ${on} is already served by apis[${owner}]${name === undefined ? "" : ` (${showValue(name)})`}`,
          ),
        );
      } else routeOwner.set(key, i);
    }

    problems.push(...checkOperations(api, i));
    const uses = { config, named, secretPaths };
    problems.push(...checkPolicyUses(api.policies, ["apis", i, "policies"], uses));
    api.operations?.forEach((op, j) => op && problems.push(...checkPolicyUses(op.policies, ["apis", i, "operations", j, "policies"], uses)));
  });

  if (config.global?.policies) problems.push(...checkPolicyUses(config.global.policies, ["global", "policies"], { config, named, secretPaths }));

  problems.push(...checkConsumers(config, apiIndex, { config, named, secretPaths }));

  for (const [name, module] of Object.entries(config.policies)) {
    if (BUILTIN_POLICIES.has(name)) {
      problems.push(problem(["policies", name], `"${name}" is the name of a built-in policy; give the custom module another name`));
    }
    if (!module || typeof module !== "object") continue;
    if (modules === "file" && module.sha256 !== undefined && module.module === undefined) {
      problems.push(problem(["policies", name, "module"], "a module file is required: modules by digest alone come from a control plane"));
    }
    if (modules === "digest" && module.module !== undefined) {
      problems.push(
        problem(
          ["policies", name, "module"],
          `a gateway fed by a control plane loads modules by sha256 only, never from a local path (got ${showValue(module.module)})`,
        ),
      );
    }
  }

  for (const [gateway, assignment] of Object.entries(config.gateways)) {
    assignment.apis.forEach((name, k) => {
      if (name !== undefined && !apiIndex.has(name)) {
        problems.push(problem(["gateways", gateway, "apis", k], `unknown API ${showValue(name)} (known: ${knownList(apiIndex.keys())})`));
      }
    });
  }
  return problems;
}

/**
 * Products and subscriptions: unique names, the APIs and products they name exist, product
 * policies are valid, and no API is in two open products (a call without a key would not know
 * whose policies to run).
 */
function checkConsumers(config: Config, apiIndex: ReadonlyMap<string, number>, uses: UseContext): Problem[] {
  const problems: Problem[] = [];
  const productIndex = new Map<string, number>();
  const openProductOf = new Map<string, number>();
  config.products.forEach((product, i) => {
    if (!product) return;
    if (product.name !== undefined) {
      const seen = productIndex.get(product.name);
      if (seen !== undefined) problems.push(problem(["products", i, "name"], `duplicate product name ${showValue(product.name)} (also products[${seen}])`));
      else productIndex.set(product.name, i);
    }
    product.apis?.forEach((name, k) => {
      if (!apiIndex.has(name)) {
        const hint = suggest(name, [...apiIndex.keys()]);
        problems.push(
          problem(["products", i, "apis", k], `unknown API ${showValue(name)} (${hint ? `did you mean "${hint}"? ` : ""}known: ${knownList(apiIndex.keys())})`),
        );
      } else if (product.subscriptionRequired === false) {
        const other = openProductOf.get(name);
        if (other !== undefined) {
          problems.push(
            problem(
              ["products", i, "apis", k],
              `API ${showValue(name)} is already in the open product products[${other}]; an API may be in one open product only`,
            ),
          );
        } else openProductOf.set(name, i);
      }
    });
    problems.push(...checkPolicyUses(product.policies, ["products", i, "policies"], uses));
  });
  const subscriptionIndex = new Map<string, number>();
  config.subscriptions.forEach((subscription, i) => {
    if (!subscription) return;
    if (subscription.name !== undefined) {
      const seen = subscriptionIndex.get(subscription.name);
      if (seen !== undefined) {
        problems.push(problem(["subscriptions", i, "name"], `duplicate subscription name ${showValue(subscription.name)} (also subscriptions[${seen}])`));
      } else subscriptionIndex.set(subscription.name, i);
    }
    const scope = subscription.scope;
    if (scope?.startsWith("product:") && !productIndex.has(scope.slice(8))) {
      problems.push(problem(["subscriptions", i, "scope"], `unknown product ${showValue(scope.slice(8))} (known: ${knownList(productIndex.keys())})`));
    }
    if (scope?.startsWith("api:") && !apiIndex.has(scope.slice(4))) {
      problems.push(problem(["subscriptions", i, "scope"], `unknown API ${showValue(scope.slice(4))} (known: ${knownList(apiIndex.keys())})`));
    }
  });
  return problems;
}

/** The canonical form of a path prefix: no trailing slash, and "" for the root. */
export function normalizePrefix(path: string): string {
  return path.endsWith("/") ? path.replace(/\/+$/, "") : path;
}

function templateShape(url: string): string {
  return url.replace(/\{[^}]*\*\}/g, "{*}").replace(/\{[^}]*\}/g, "{}");
}

function checkOperations(api: ApiConfig, i: number): Problem[] {
  const problems: Problem[] = [];
  const seen = new Map<string, number>();
  const names = new Map<string, number>();
  api.operations?.forEach((op, j) => {
    if (!op) return;
    if (op.method !== undefined && op.url !== undefined) {
      const key = `${op.method} ${templateShape(op.url)}`;
      const previous = seen.get(key);
      if (previous !== undefined) problems.push(problem(["apis", i, "operations", j], `duplicate of operations[${previous}] (${op.method} ${op.url})`));
      else seen.set(key, j);
    }
    if (op.name !== undefined) {
      const named = names.get(op.name);
      if (named !== undefined) {
        problems.push(problem(["apis", i, "operations", j, "name"], `duplicate operation name ${showValue(op.name)} (also operations[${named}])`));
      } else names.set(op.name, j);
    }
    const params = [...(op.url ?? "").matchAll(/\{([^}*]+)\*?\}/g)].map((m) => m[1]!);
    const dup = params.find((p, k) => params.indexOf(p) !== k);
    if (dup) problems.push(problem(["apis", i, "operations", j, "url"], `parameter {${dup}} appears twice (got ${showValue(op.url)})`));
  });
  return problems;
}

/** What checking policy uses needs besides the sections: the configuration, its named values, and where to note parameters that hold a secret. */
interface UseContext {
  readonly config: Config;
  readonly named: NamedValueResolution;
  readonly secretPaths: string[];
}

/**
 * Checks the uses of a scope's sections: names, and the parameters of built-ins. Named value
 * references are replaced first (in the use itself, so the snapshot is built from the result), and
 * the result is checked as if it had been written inline; problems show the parameters as written.
 */
function checkPolicyUses(sections: PolicySectionsConfig | undefined, at: PropertyKey[], { config, named, secretPaths }: UseContext): Problem[] {
  const problems: Problem[] = [];
  if (!sections) return problems;
  const known = [...BUILTIN_POLICIES, ...Object.keys(config.policies)];
  for (const [section, uses] of Object.entries(sections)) {
    uses?.forEach((use, k) => {
      if (use === "base") return;
      const here = [...at, section, k];
      const written = use.with;
      let checkable = true;
      let whole: { parts: PropertyKey[]; value: string }[] = [];
      if (written !== undefined) {
        const sub = substituteNamedValues(written, named, [...here, "with"]);
        problems.push(...sub.problems);
        for (const parts of sub.secretPaths) secretPaths.push(formatPath([...here, "with", ...parts]));
        checkable = !sub.problems.length && !sub.unresolved;
        use.with = sub.value as Record<string, unknown>;
        whole = sub.whole;
      }
      if (BUILTIN_POLICIES.has(use.policy)) {
        if (!checkable) return;
        const checked = checkParams(use.policy as BuiltinPolicyName, use.with, written, whole, [...here, "with"]);
        problems.push(...checked.problems);
        use.with = checked.params as Record<string, unknown> | undefined;
        if (isHostPolicy(use.policy) && !HOST_POLICY_SECTIONS[use.policy].includes(section)) {
          const allowed = HOST_POLICY_SECTIONS[use.policy];
          const what = use.policy === "validate-jwt"
            ? "checks requests"
            : use.policy === "cache-store"
            ? "stores responses"
            : "answers requests from the cache";
          problems.push(
            problem([...here, "policy"], `${use.policy} ${what}: use it in ${allowed.join(" (or ")}${allowed.length > 1 ? ")" : ""}, not ${section}`),
          );
        }
        if (use["redis-failure"] !== undefined && !SHARED_COUNTER_POLICIES.has(use.policy)) {
          problems.push(
            problem([...here, "redis-failure"], `only policies with shared counters take redis-failure (${[...SHARED_COUNTER_POLICIES.keys()].join(", ")})`),
          );
        }
        if (use.policy === "validate-jwt" && use.failure === "open") {
          problems.push(problem([...here, "failure"], "validate-jwt cannot fail open: a request whose token it could not check would pass unchecked"));
        }
        const backend = use.policy === "set-backend-service" ? (use.with as Record<string, unknown> | undefined)?.["backend-id"] : undefined;
        if (typeof backend === "string" && !Object.hasOwn(config.backends, backend)) {
          const names = Object.keys(config.backends);
          const hint = suggest(backend, names);
          problems.push(
            problem(
              [...here, "with", "backend-id"],
              `unknown backend ${showValue(written?.["backend-id"])} (${hint ? `did you mean "${hint}"? ` : ""}known: ${knownList(names)})`,
            ),
          );
        }
        return;
      }
      if (known.includes(use.policy)) {
        if (use["redis-failure"] !== undefined) {
          problems.push(
            problem([...here, "redis-failure"], `only built-ins with shared counters take redis-failure (${[...SHARED_COUNTER_POLICIES.keys()].join(", ")})`),
          );
        }
        return;
      }
      const hint = suggest(use.policy, known);
      problems.push(
        problem([...here, "policy"], `unknown policy ${showValue(use.policy)} (${hint ? `did you mean "${hint}"? ` : ""}known: ${knownList(known)})`),
      );
    });
  }
  return problems;
}

/**
 * Checks a built-in policy's `with:` parameters (named values already in), reporting each problem
 * at its full path and with the value as `written`. A parameter that was exactly one named value
 * reference and is refused for not being a number or a boolean is tried again with the value
 * typed as YAML would type it inline (`calls: "{{limit}}"` is `calls: 100`); the parameters that
 * passed are returned so the snapshot is built from them.
 */
function checkParams(
  name: BuiltinPolicyName,
  params: unknown,
  written: unknown,
  whole: readonly { parts: PropertyKey[]; value: string }[],
  at: PropertyKey[],
): { problems: Problem[]; params: unknown } {
  const schema = BUILTIN_POLICY_PARAMS[name];
  let parsed = schema.safeParse(params ?? {});
  if (!parsed.success && whole.length) {
    const wrongType = new Set(parsed.error.issues.filter((i) => i.code === "invalid_type").map((i) => formatPath(i.path)));
    let typed = params;
    for (const w of whole) if (wrongType.has(formatPath(w.parts))) typed = replaceAt(typed, w.parts, typedScalar(w.value));
    if (typed !== params) {
      params = typed;
      parsed = schema.safeParse(params ?? {});
    }
  }
  if (parsed.success) return { problems: [], params };
  const problems = problemsFromZod(parsed.error.issues, written ?? {}, (path) => keysAt(schema, path)).map((p) => {
    const parts = [...at, ...(p.parts ?? [])];
    return { ...p, path: formatPath(parts), parts };
  });
  return { problems, params };
}
