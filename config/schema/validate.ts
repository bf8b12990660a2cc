import { ConfigShape, type ApiConfig, type Config, type PolicySectionsConfig } from "./config.ts";
import { keysAt } from "./introspect.ts";
import { formatPath, problemsFromZod, showValue, suggest, type Problem } from "./problems.ts";

/** Built-in policy names this version ships. The policy engine adds them; until then there are none. */
export const BUILTIN_POLICIES: ReadonlySet<string> = new Set();

/** The result of validating a configuration: the typed config, or every problem found. */
export type Validation = { ok: true; config: Config } | { ok: false; problems: Problem[] };

/**
 * Validates a parsed document (from YAML or JSON) as a whole: shape first, then cross-references
 * (backends, duplicates, overlapping routes, policy names). Reports every problem, never just the first.
 */
export function validateConfig(input: unknown): Validation {
  const parsed = ConfigShape.safeParse(input ?? {});
  if (!parsed.success) {
    return { ok: false, problems: problemsFromZod(parsed.error.issues, input, (path) => keysAt(ConfigShape, path)) };
  }
  const problems = checkReferences(parsed.data);
  return problems.length ? { ok: false, problems } : { ok: true, config: parsed.data };
}

function problem(parts: PropertyKey[], message: string): Problem {
  return { path: formatPath(parts), parts, message };
}

function knownList(names: Iterable<string>): string {
  const list = [...names];
  return list.length ? list.join(", ") : "none defined";
}

function checkReferences(config: Config): Problem[] {
  const problems: Problem[] = [];
  const backendNames = Object.keys(config.backends);
  const apiIndex = new Map<string, number>();
  const routeOwner = new Map<string, number>();

  config.apis.forEach((api, i) => {
    const seen = apiIndex.get(api.name);
    if (seen !== undefined) problems.push(problem(["apis", i, "name"], `duplicate API name ${showValue(api.name)} (also apis[${seen}])`));
    else apiIndex.set(api.name, i);

    if (!Object.hasOwn(config.backends, api.backend)) {
      const hint = suggest(api.backend, backendNames);
      problems.push(
        problem(
          ["apis", i, "backend"],
          `unknown backend ${showValue(api.backend)} (${hint ? `did you mean "${hint}"? ` : ""}known: ${knownList(backendNames)})`,
        ),
      );
    }

    for (const host of api.hosts ?? ["*"]) {
      const key = `${host} ${normalizePrefix(api.path)}`;
      const owner = routeOwner.get(key);
      if (owner !== undefined) {
        const on = host === "*" ? "any host" : `host ${host}`;
        problems.push(problem(["apis", i, "path"], `${showValue(api.path)} on ${on} is already served by apis[${owner}] (${showValue(config.apis[owner]!.name)})`));
      } else routeOwner.set(key, i);
    }

    problems.push(...checkOperations(api, i));
    problems.push(...checkPolicyUses(api.policies, ["apis", i, "policies"], config));
    api.operations?.forEach((op, j) => problems.push(...checkPolicyUses(op.policies, ["apis", i, "operations", j, "policies"], config)));
  });

  for (const name of Object.keys(config.policies)) {
    problems.push(problem(["policies", name], "custom policy modules need the WebAssembly policy engine, which this version does not include yet"));
  }

  for (const [gateway, assignment] of Object.entries(config.gateways)) {
    assignment.apis.forEach((name, k) => {
      if (!apiIndex.has(name)) problems.push(problem(["gateways", gateway, "apis", k], `unknown API ${showValue(name)} (known: ${knownList(apiIndex.keys())})`));
    });
  }
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
    const key = `${op.method} ${templateShape(op.url)}`;
    const previous = seen.get(key);
    if (previous !== undefined) problems.push(problem(["apis", i, "operations", j], `duplicate of operations[${previous}] (${op.method} ${op.url})`));
    else seen.set(key, j);
    if (op.name !== undefined) {
      const named = names.get(op.name);
      if (named !== undefined) problems.push(problem(["apis", i, "operations", j, "name"], `duplicate operation name ${showValue(op.name)} (also operations[${named}])`));
      else names.set(op.name, j);
    }
    const params = [...op.url.matchAll(/\{([^}*]+)\*?\}/g)].map((m) => m[1]!);
    const dup = params.find((p, k) => params.indexOf(p) !== k);
    if (dup) problems.push(problem(["apis", i, "operations", j, "url"], `parameter {${dup}} appears twice (got ${showValue(op.url)})`));
  });
  return problems;
}

function checkPolicyUses(sections: PolicySectionsConfig | undefined, at: PropertyKey[], config: Config): Problem[] {
  const problems: Problem[] = [];
  if (!sections) return problems;
  const known = [...BUILTIN_POLICIES, ...Object.keys(config.policies)];
  for (const [section, uses] of Object.entries(sections)) {
    uses?.forEach((use, k) => {
      if (use === "base" || known.includes(use.policy)) return;
      const hint = suggest(use.policy, known);
      problems.push(
        problem([...at, section, k, "policy"], `unknown policy ${showValue(use.policy)} (${hint ? `did you mean "${hint}"? ` : ""}known: ${knownList(known)})`),
      );
    });
  }
  return problems;
}
