import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { isPem, readBackendTls, readCaBundle, readCertificatePair } from "../config/certificates.ts";
import { contentHash, locateProblems, parseConfigDocument, type ParsedDocument } from "../config/load.ts";
import type { Config } from "../config/schema/config.ts";
import { type NamedValueReader, namedValueReferences, type ResolvedNamedValues } from "../config/schema/named-values.ts";
import { describeError, formatPath, type Problem, showValue } from "../config/schema/problems.ts";
import { validateConfig } from "../config/schema/validate.ts";
import { MIN_KEY_LENGTH, SubscriptionKey, type SubscriptionKeyConfig } from "../config/schema/consumers.ts";
import { confineToFolder } from "./confine.ts";
import { moduleShapeProblem, type ModuleStore } from "./modules.ts";
import { hashSubscriptionKey, NO_STORED_KEYS, type SubscriptionKeys } from "./subscriptions.ts";
import { effectiveKeys } from "./subscription-notices.ts";

/** Top-level keys whose lists are concatenated across files, and whose maps are merged. */
const LIST_KEYS = new Set(["apis", "hostnames", "products", "subscriptions"]);
const MAP_KEYS = new Set(["backends", "policies", "gateways", "namedValues"]);

/** The configuration files of a control plane: `*.yaml`, `*.yml` and `*.json` directly in the folder, by name. */
function configFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /\.(ya?ml|json)$/.test(name))
    .sort()
    .map((name) => join(dir, name));
}

/**
 * A fingerprint of everything under the configuration folder (names, sizes, times), cheap enough to
 * poll: when it changes, the desired configuration is read again.
 */
export function folderFingerprint(dir: string): string {
  const parts: string[] = [];
  const walk = (at: string) => {
    let entries;
    try {
      entries = readdirSync(at, { withFileTypes: true });
    } catch {
      parts.push(`${at}:missing`);
      return;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        try {
          const s = statSync(path, { bigint: true });
          parts.push(`${path}:${s.ino}:${s.size}:${s.mtimeNs}`);
        } catch {
          parts.push(`${path}:gone`);
        }
      }
    }
  };
  walk(dir);
  return parts.join("\n");
}

interface Origin {
  readonly file: number;
  readonly index?: number;
}

/**
 * Several parsed files as one document: lists (`apis`, `hostnames`) are concatenated in file order
 * and maps (`backends`, `policies`, `gateways`, `namedValues`) merged. A name defined in two files is a problem,
 * reported at the second. `locate` maps a path in the merged document back to its file and line.
 */
function mergeDocuments(docs: readonly ParsedDocument[]): { doc: ParsedDocument; problems: Problem[] } {
  const value: Record<string, unknown> = {};
  const origins = new Map<string, Origin[] | Map<string, number> | number>();
  const problems: Problem[] = [];
  docs.forEach((doc, file) => {
    for (const [key, part] of Object.entries(doc.value)) {
      if (LIST_KEYS.has(key) && Array.isArray(part)) {
        const list = (value[key] ??= []) as unknown[];
        const from = (origins.get(key) as Origin[] | undefined) ?? [];
        part.forEach((item, index) => {
          list.push(item);
          from.push({ file, index });
        });
        origins.set(key, from);
      } else if (MAP_KEYS.has(key) && part !== null && typeof part === "object" && !Array.isArray(part)) {
        const map = (value[key] ??= {}) as Record<string, unknown>;
        const from = (origins.get(key) as Map<string, number> | undefined) ?? new Map<string, number>();
        for (const [name, item] of Object.entries(part)) {
          const first = from.get(name);
          if (first !== undefined) {
            problems.push({
              path: formatPath([key, name]),
              message: `defined again (first in ${docs[first]!.locate([key, name]) ?? "another file"})`,
              location: doc.locate([key, name]),
            });
            continue;
          }
          map[name] = item;
          from.set(name, file);
        }
        origins.set(key, from);
      } else if (Object.hasOwn(value, key) && (LIST_KEYS.has(key) || MAP_KEYS.has(key))) {
        // A second file with the wrong type: reported here, since the merged value keeps the first file's.
        problems.push({ path: key, message: `expected ${LIST_KEYS.has(key) ? "a list" : "a map"} (got ${showValue(part)})`, location: doc.locate([key]) });
      } else if (!Object.hasOwn(value, key)) {
        value[key] = part;
        origins.set(key, file);
      } else {
        problems.push({
          path: key,
          message: `defined again (first in ${docs[origins.get(key) as number]!.locate([key]) ?? "another file"})`,
          location: doc.locate([key]),
        });
      }
    }
  });
  const locate = (parts: readonly PropertyKey[]): string | undefined => {
    const [top, next, ...rest] = parts;
    const from = origins.get(String(top));
    if (from === undefined) return undefined;
    if (typeof from === "number") return docs[from]!.locate(parts);
    if (Array.isArray(from)) {
      const origin = typeof next === "number" ? from[next] : from[0];
      if (!origin) return undefined;
      return docs[origin.file]!.locate(typeof next === "number" ? [top!, origin.index!, ...rest] : [top!]);
    }
    const file = next === undefined ? from.values().next().value : from.get(String(next));
    return file === undefined ? undefined : docs[file]!.locate(parts);
  };
  return { doc: { value, locate }, problems };
}

/** A desired configuration that validated: the merged document, typed, with its modules stored. */
export interface DesiredConfig {
  readonly ok: true;
  /** sha256 over the file names and bytes and the module digests: the desired configuration's identity. */
  readonly hash: string;
  /** The merged document as written (durations still as text): what gateway views are cut from. */
  readonly raw: Record<string, unknown>;
  readonly config: Config;
  /** The sha256 of each custom policy module, by policy name. */
  readonly digests: ReadonlyMap<string, string>;
  /** Each `hostnames` entry's certificate and key as PEM text, by index: views carry them inline. */
  readonly certificates: readonly { cert: string; key: string; clientCa?: string }[];
  /** Each backend's TLS CA, client certificate and key as PEM text, by backend name: views carry them inline. */
  readonly backendTls: ReadonlyMap<string, { ca?: string; cert?: string; key?: string }>;
  /** The named values, resolved here (env of the control plane, files inside the folder): views carry the ones they use inline. */
  readonly namedValues: ResolvedNamedValues;
  /**
   * The keys each subscription sets in the YAML (text, `env` or `file`), by subscription index, as
   * keyed hashes (`hmac-sha256:SALT:DIGEST`): the keys themselves are not kept.
   */
  readonly subscriptionKeys: readonly YamlKeyHashes[];
}

/** The keyed hashes of the keys one subscription sets in the desired configuration. */
export interface YamlKeyHashes {
  readonly primaryKey?: string;
  readonly secondaryKey?: string;
}

/** The outcome of reading a control plane's configuration folder. */
export type DesiredResult = DesiredConfig | { readonly ok: false; readonly hash: string; readonly problems: Problem[] };

/**
 * Reads every configuration file of the folder, merges them, validates the whole (each problem with
 * its file and line), stores the policy modules it references by sha256, and reads and checks the
 * TLS certificates. Module and certificate paths are relative to the folder and must stay inside
 * it (see confineToFolder); a module named by sha256 alone must already be stored. Subscription
 * keys written in the configuration (text, `{ env }` from the control plane's environment, `{ file }`
 * inside the folder) are hashed with the data directory's `salt` at once (see hashSubscriptionKey).
 */
export function loadDesired(dir: string, modules: ModuleStore, salt: () => string): DesiredResult {
  let files: string[];
  try {
    files = configFiles(dir);
  } catch (error) {
    return {
      ok: false,
      hash: "",
      problems: [{
        path: "",
        message: `cannot read the configuration folder: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`,
        location: dir,
      }],
    };
  }
  const problems: Problem[] = [];
  const docs: ParsedDocument[] = [];
  const identity: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    identity.push(`${file.slice(dir.length + 1)}\0${contentHash(text)}`);
    const parsed = parseConfigDocument(text, file);
    if (parsed.ok) docs.push(parsed.doc);
    else problems.push(...parsed.problems);
  }
  const merged = mergeDocuments(docs);
  problems.push(...merged.problems);
  const validation = validateConfig(merged.doc.value, { modules: "any", readNamedValue: confinedNamedValueReader(dir) });
  if (!validation.ok) problems.push(...locateProblems(validation.problems, merged.doc));
  const digests = new Map<string, string>();
  if (validation.ok) {
    for (const [name, policy] of Object.entries(validation.config.policies)) {
      const at = (field: string, message: string) =>
        problems.push({ path: formatPath(["policies", name, field]), message, location: merged.doc.locate(["policies", name, field]) });
      if (policy.module === undefined) {
        if (modules.has(policy.sha256!)) digests.set(name, policy.sha256!);
        else {at(
            "sha256",
            "unknown module digest: no module with this sha256 is stored (give a module path once, or copy the file into the state's modules folder)",
          );}
        continue;
      }
      const confined = confineToFolder(dir, policy.module);
      if (!confined.ok) {
        at("module", confined.message);
        continue;
      }
      const file = confined.path;
      let bytes: Uint8Array<ArrayBuffer>;
      try {
        bytes = readFileSync(file);
      } catch (error) {
        at("module", `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`);
        continue;
      }
      const shape = moduleShapeProblem(bytes);
      if (shape) {
        at("module", `${file}: ${shape}`);
        continue;
      }
      const digest = contentHash(bytes);
      if (policy.sha256 !== undefined && policy.sha256 !== digest) {
        at("sha256", `does not match the module file ${file} (its sha256 is ${digest})`);
        continue;
      }
      identity.push(`module:${name}\0${digest}`);
      digests.set(name, modules.put(bytes));
    }
  }
  const certificates: { cert: string; key: string; clientCa?: string }[] = [];
  const backendTls = new Map<string, { ca?: string; cert?: string; key?: string }>();
  if (validation.ok) {
    for (const [name, backend] of Object.entries(validation.config.backends)) {
      if (!backend.tls) continue;
      const tls = confineFiles(
        dir,
        backend.tls,
        ["ca", "cert", "key"],
        (field, message) =>
          problems.push({ path: formatPath(["backends", name, "tls", field]), message, location: merged.doc.locate(["backends", name, "tls", field]) }),
      );
      if (!tls) continue;
      try {
        const material = readBackendTls(name, tls, dir);
        backendTls.set(name, { ca: material.ca, cert: material.cert, key: material.key });
        identity.push(`backend:${name}\0${material.fingerprint}`);
      } catch (error) {
        problems.push({ path: formatPath(["backends", name, "tls"]), message: describeError(error), location: merged.doc.locate(["backends", name, "tls"]) });
      }
    }
    validation.config.hostnames.forEach((written, i) => {
      const entry = confineFiles(
        dir,
        written,
        ["cert", "key", "clientCa"],
        (field, message) => problems.push({ path: formatPath(["hostnames", i, field]), message, location: merged.doc.locate(["hostnames", i, field]) }),
      );
      if (!entry) return;
      try {
        const { cert, key } = readCertificatePair(entry, dir);
        const clientCa = entry.clientCa === undefined ? undefined : readCaBundle(entry.clientCa, dir, `hostname ${entry.host} (clientCa)`).pem;
        certificates.push(clientCa === undefined ? { cert, key } : { cert, key, clientCa });
        identity.push(`hostname:${entry.host}\0${contentHash(`${cert}\0${key}\0${clientCa ?? ""}`)}`);
      } catch (error) {
        problems.push({ path: formatPath(["hostnames", i]), message: describeError(error), location: merged.doc.locate(["hostnames", i]) });
      }
    });
  }
  const subscriptionKeys: YamlKeyHashes[] = [];
  if (validation.ok) {
    validation.config.subscriptions.forEach((subscription, i) => {
      const hashes: { primaryKey?: string; secondaryKey?: string } = {};
      for (const field of ["primaryKey", "secondaryKey"] as const) {
        const written = subscription[field];
        if (written === undefined) continue;
        const at = (message: string) =>
          problems.push({ path: formatPath(["subscriptions", i, field]), message, location: merged.doc.locate(["subscriptions", i, field]) });
        const hashed = yamlKeyHash(dir, written, salt, at);
        if (hashed === undefined) continue;
        hashes[field] = hashed;
        // The hash, not the key: a key read from the environment or a file changes the identity too.
        identity.push(`subscription:${i}:${field}\0${hashed}`);
      }
      subscriptionKeys.push(hashes);
    });
  }
  if (validation.ok) {
    // Values read from env and files are part of the identity, so a changed one is a new revision (only a digest, never the text).
    const named = [...validation.namedValues].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, v]) => [name, v.value, v.secret]);
    if (named.length) identity.push(`namedValues\0${contentHash(JSON.stringify(named))}`);
  }
  const hash = contentHash(identity.join("\n"));
  if (problems.length || !validation.ok) return { ok: false, hash, problems };
  return {
    ok: true,
    hash,
    raw: merged.doc.value,
    config: validation.config,
    digests,
    certificates,
    backendTls,
    namedValues: validation.namedValues,
    subscriptionKeys,
  };
}

/**
 * The keyed hash of a subscription key written in the desired configuration: text as it is, `env`
 * from the control plane's environment, `file` inside the configuration folder (its text without the
 * trailing line end), a `hash` as written. Problems never quote a key.
 */
function yamlKeyHash(dir: string, written: SubscriptionKeyConfig, salt: () => string, problem: (message: string) => void): string | undefined {
  if (typeof written === "string") return hashSubscriptionKey(written, salt());
  if ("hash" in written) return written.hash;
  let text: string;
  let source: string;
  if ("env" in written) {
    const value = process.env[written.env];
    if (value === undefined) {
      problem(`the environment variable ${written.env} is not set in the control plane's environment`);
      return undefined;
    }
    text = value;
    source = `the environment variable ${written.env}`;
  } else {
    const file = confineToFolder(dir, written.file);
    if (!file.ok) {
      problem(file.message);
      return undefined;
    }
    try {
      text = readFileSync(file.path, "utf8").replace(/\r?\n$/, "");
    } catch (error) {
      problem(`cannot read ${file.path}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`);
      return undefined;
    }
    source = file.path;
  }
  const parsed = SubscriptionKey.safeParse(text);
  if (!parsed.success || typeof parsed.data !== "string") {
    problem(`the key in ${source} is not a subscription key: ${MIN_KEY_LENGTH} to 256 visible ASCII characters without spaces`);
    return undefined;
  }
  return hashSubscriptionKey(text, salt());
}

/**
 * Reads named values for the control plane: `{ env }` from its own environment, `{ file }` relative
 * to the configuration folder and confined to it (see confineToFolder), as certificate files are.
 */
function confinedNamedValueReader(dir: string): NamedValueReader {
  return (source) => {
    if ("env" in source) {
      const value = process.env[source.env];
      if (value === undefined) throw new Error(`the environment variable ${source.env} is not set on the control plane`);
      return { value };
    }
    const confined = confineToFolder(dir, source.file);
    if (!confined.ok) throw new Error(confined.message);
    try {
      return { value: readFileSync(confined.path, "utf8"), file: confined.path };
    } catch (error) {
      throw new Error(`cannot read ${confined.path}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`);
    }
  };
}

/**
 * The entry with each file reference among `fields` (PEM text is left alone) replaced by the file
 * to read, confined to the configuration folder `dir`; undefined, after reporting each escaping
 * reference to `problem`, when any escapes.
 */
function confineFiles<T extends object>(
  dir: string,
  entry: T,
  fields: readonly (keyof T & string)[],
  problem: (field: string, message: string) => void,
): T | undefined {
  const confined = { ...entry } as Record<string, unknown>;
  let ok = true;
  for (const field of fields) {
    const value: unknown = entry[field];
    if (typeof value !== "string" || isPem(value)) continue;
    const file = confineToFolder(dir, value);
    if (file.ok) confined[field] = file.path;
    else {
      problem(field, file.message);
      ok = false;
    }
  }
  return ok ? (confined as T) : undefined;
}

/** What one gateway receives: the part of the desired configuration assigned to it, as exact JSON bytes. */
export interface GatewayView {
  /** The JSON text a gateway downloads and validates. */
  readonly body: string;
  /** sha256 of `body`: the ETag, and the hash the gateway reports as applied. */
  readonly hash: string;
  /** Digests of the policy modules the view uses. */
  readonly modules: readonly string[];
}

/** A backend as written, with its TLS files replaced by their PEM text (a gateway cannot read the control plane's files). */
function withInlineTls(backend: Record<string, unknown>, pem: { ca?: string; cert?: string; key?: string } | undefined): Record<string, unknown> {
  if (!pem) return backend;
  const tls = { ...(backend.tls as Record<string, unknown>) };
  for (const field of ["ca", "cert", "key"] as const) if (pem[field] !== undefined) tls[field] = pem[field];
  return { ...backend, tls };
}

/** The policy names a scope's sections use. */
function usedPolicies(sections: Record<string, unknown> | undefined, into: Set<string>): void {
  for (const uses of Object.values(sections ?? {})) {
    for (const use of (uses as unknown[]) ?? []) if (use && typeof use === "object") into.add((use as { policy: string }).policy);
  }
}

/** Whether a subscription's scope reaches one of `apis` (the names of a view's APIs). */
function reaches(scope: string, apis: ReadonlySet<string>, productApis: ReadonlyMap<string, readonly string[]>): boolean {
  if (scope === "all-apis") return apis.size > 0;
  if (scope.startsWith("api:")) return apis.has(scope.slice("api:".length));
  return (productApis.get(scope.slice("product:".length)) ?? []).some((name) => apis.has(name));
}

/**
 * Cuts a gateway's view out of the desired configuration: the global scope, its APIs (all of them
 * when `assigned` is undefined, that is when the configuration has no `gateways:` section), the
 * backends and custom policies those APIs, their products and the global scope use, and its TLS host
 * names with their certificates and keys inline. Custom modules are named by sha256 only; the
 * `gateways:` section itself is never sent. Products come with the APIs of this view only, and only
 * when they have one; subscriptions only when their scope reaches one of the view's APIs, each key
 * as its keyed hash (`{ hash }`, a key `stored` by the CLI replacing the one in the configuration),
 * never as the key. Named values go only to views whose policies (global, API, operation or
 * product) reference them, resolved (`{ value, secret }`), and the policies keep their `{{name}}`
 * references: the gateway substitutes them as a standalone gateway does, and so knows which
 * parameters hold secrets.
 */
export function gatewayView(
  desired: DesiredConfig,
  assigned: { apis: readonly string[]; hostnames: readonly string[] } | undefined,
  stored: SubscriptionKeys = NO_STORED_KEYS,
): GatewayView {
  const raw = desired.raw as {
    global?: { policies?: Record<string, unknown> };
    apis?: Record<string, unknown>[];
    backends?: Record<string, unknown>;
    policies?: Record<string, Record<string, unknown>>;
    hostnames?: unknown[];
    products?: Record<string, unknown>[];
    subscriptions?: Record<string, unknown>[];
  };
  const apiNames = assigned && new Set(assigned.apis);
  const indexes = desired.config.apis.flatMap((api, i) => (!apiNames || apiNames.has(api.name) ? [i] : []));
  const apis = indexes.map((i) => raw.apis![i]!);
  const inView = new Set(indexes.map((i) => desired.config.apis[i]!.name));
  const backends: Record<string, unknown> = {};
  const policies: Record<string, unknown> = {};
  const used = new Set<string>();
  usedPolicies(raw.global?.policies, used);
  for (const i of indexes) {
    const api = desired.config.apis[i]!;
    backends[api.backend] = withInlineTls(raw.backends![api.backend] as Record<string, unknown>, desired.backendTls.get(api.backend));
    usedPolicies(raw.apis![i]!.policies as Record<string, unknown>, used);
    for (const op of (raw.apis![i]!.operations as Record<string, unknown>[] | undefined) ?? []) usedPolicies(op.policies as Record<string, unknown>, used);
  }
  // Products with the APIs of this view (a gateway validates that a product names only APIs it has).
  const products = desired.config.products.flatMap((product, i) => {
    const apisHere = product.apis.filter((name) => inView.has(name));
    if (!apisHere.length) return [];
    usedPolicies(raw.products![i]!.policies as Record<string, unknown>, used);
    return [{ ...raw.products![i]!, apis: apisHere } as Record<string, unknown>];
  });
  const productApis = new Map(desired.config.products.map((p) => [p.name, p.apis]));
  const subscriptions = desired.config.subscriptions.flatMap((subscription, i) => {
    if (!reaches(subscription.scope, inView, productApis)) return [];
    const { primaryKey: _primary, secondaryKey: _secondary, ...rest } = raw.subscriptions![i]!;
    const keys = effectiveKeys(desired, i, stored);
    const entry: Record<string, unknown> = { ...rest };
    for (const field of ["primaryKey", "secondaryKey"] as const) if (keys[field] !== undefined) entry[field] = { hash: keys[field] };
    return [entry];
  });
  // The named values the view's policies reference, resolved and inline: a gateway reads no env or file named by a view.
  const references = new Set<string>();
  namedValueReferences(raw.global?.policies, references);
  for (const api of apis) {
    namedValueReferences(api.policies, references);
    for (const op of (api.operations as Record<string, unknown>[] | undefined) ?? []) namedValueReferences(op.policies, references);
  }
  for (const product of products) namedValueReferences(product.policies, references);
  const namedValues: Record<string, { value: string; secret?: true }> = {};
  for (const name of [...references].sort()) {
    const named = desired.namedValues.get(name);
    if (named) namedValues[name] = named.secret ? { value: named.value, secret: true } : { value: named.value };
  }
  const modules: string[] = [];
  for (const name of [...used].sort()) {
    const digest = desired.digests.get(name);
    if (digest === undefined) continue; // a built-in
    const { module: _path, ...rest } = raw.policies![name]!;
    policies[name] = { ...rest, sha256: digest };
    modules.push(digest);
  }
  // Certificates travel inline (PEM): a gateway has no access to the control plane's files.
  const hostNames = new Set(assigned?.hostnames ?? []);
  const hostnames = (raw.hostnames ?? []).flatMap((entry, i) =>
    !assigned || hostNames.has(desired.config.hostnames[i]!.host) ? [{ ...(entry as Record<string, unknown>), ...desired.certificates[i] }] : []
  );
  const view: Record<string, unknown> = raw.global ? { global: raw.global, apis, backends } : { apis, backends };
  if (modules.length) view.policies = policies;
  if (hostnames.length) view.hostnames = hostnames;
  if (products.length) view.products = products;
  if (subscriptions.length) view.subscriptions = subscriptions;
  if (Object.keys(namedValues).length) view.namedValues = namedValues;
  const body = JSON.stringify(view);
  return { body, hash: contentHash(body), modules: [...new Set(modules)] };
}

/** A subscription as written in the desired configuration's files, read without validating them (for `portico subscription list`). */
export interface WrittenSubscription {
  readonly name: string;
  readonly state: string;
  /** Which keys the configuration sets. */
  readonly primaryKey: boolean;
  readonly secondaryKey: boolean;
}

/**
 * The subscriptions the configuration folder's files name, in file order, read as written: an
 * invalid or half-edited folder still lists what it can. Nothing is resolved or hashed.
 */
export function writtenSubscriptions(dir: string): WrittenSubscription[] {
  let files: string[];
  try {
    files = configFiles(dir);
  } catch {
    return [];
  }
  const found: WrittenSubscription[] = [];
  for (const file of files) {
    const parsed = parseConfigDocument(readFileSync(file, "utf8"), file);
    const list = parsed.ok ? parsed.doc.value.subscriptions : undefined;
    if (!Array.isArray(list)) continue;
    for (const entry of list as Record<string, unknown>[]) {
      if (!entry || typeof entry !== "object" || typeof entry.name !== "string") continue;
      found.push({
        name: entry.name,
        state: typeof entry.state === "string" ? entry.state : "active",
        primaryKey: entry.primaryKey !== undefined,
        secondaryKey: entry.secondaryKey !== undefined,
      });
    }
  }
  return found;
}
