#!/usr/bin/env bun
/**
 * Golden cases of the translation from configuration to snapshot (and, for a control plane, to the
 * view each gateway receives): `config/snapshot/golden/` holds inputs and the outputs they must
 * translate to, rendered as stable JSON. `golden_test.ts` checks every case; after a deliberate
 * change to the translation, `npm run golden` (this file with `--update`) rewrites the outputs, and
 * the diff of those files is what a reviewer reads to accept the change.
 *
 * Cases:
 * - `golden/standalone/NAME/config.yaml`: built as a standalone gateway builds its file, into
 *   `snapshot.json`, or, when it does not build, `problems.txt` (one problem per line).
 * - `golden/control-plane/NAME/config/`: a control plane's folder, loaded as the control plane loads
 *   it; for each gateway of its `gateways:` section (or `default` without one), the view it sends,
 *   `views/GATEWAY.json`, and the snapshot that gateway builds from it, `snapshots/GATEWAY.json`.
 *   `NAME/state/subscriptions.json`, when there, is the data directory's salt and the subscription
 *   keys stored by the CLI (hashes), so the hashed keys in views are the same on every run.
 * PEM blocks are rendered as their sha256 (and a certificate's subject), module bytes as their size,
 * and absolute paths relative to the case's folder, so outputs depend on nothing but the inputs.
 * Secret named values are rendered as `***` wherever they appear (a golden file is printed and
 * committed; a secret is never shown), in views and snapshots alike.
 */
import { createHash, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gatewayView, loadDesired } from "../../control-plane/desired.ts";
import { ModuleStore } from "../../control-plane/modules.ts";
import { SubscriptionKeyStore } from "../../control-plane/subscriptions.ts";
import { redactText } from "../schema/named-values.ts";
import { formatProblem, type Snapshot, snapshotFromFile, snapshotFromJson } from "./build.ts";

/** The folder of the golden cases. */
const GOLDEN_DIR = fileURLToPath(new URL("./golden/", import.meta.url));

/** One output file of a case: its path under GOLDEN_DIR and the text it must have. */
export interface GoldenFile {
  readonly path: string;
  readonly text: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----\n?/g;

function sha256(text: string | Uint8Array): string {
  return createHash("sha256").update(text).digest("hex");
}

/** A PEM value as its kind and sha256 (and, for a certificate, its subject): what a reviewer can compare. */
function pem(value: string): string {
  return value.replace(PEM_BLOCK, (block, kind: string) => {
    const subject = kind === "CERTIFICATE" ? ` ${new X509Certificate(block).subject.replace(/\n/g, ", ")}` : "";
    return `<${kind.toLowerCase()}${subject} sha256:${sha256(block).slice(0, 16)}>`;
  });
}

/** Every string in a JSON value with its PEM blocks rendered by `pem`. */
function withoutPem(value: unknown): unknown {
  if (typeof value === "string") return value.includes("-----BEGIN ") ? pem(value) : value;
  if (Array.isArray(value)) return value.map(withoutPem);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutPem(v)]));
  return value;
}

/** A value with its Maps as objects and Sets as arrays, for JSON. */
function plain(value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, plain(v)]));
  if (value instanceof Set) return [...value].map(plain);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object" && !(value instanceof Uint8Array)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

/** Every string in a JSON value with each secret replaced by `***`. */
function withoutSecrets(value: unknown, secrets: ReadonlySet<string>): unknown {
  if (!secrets.size) return value;
  if (typeof value === "string") return redactText(value, secrets);
  if (Array.isArray(value)) return value.map((v) => withoutSecrets(v, secrets));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutSecrets(v, secrets)]));
  return value;
}

/** The secret values a view carries (its `namedValues` marked secret). */
function viewSecrets(view: { namedValues?: Record<string, { value: string; secret?: boolean }> }): Set<string> {
  return new Set(Object.values(view.namedValues ?? {}).flatMap((v) => (v.secret ? [v.value] : [])));
}

/** A snapshot as stable JSON: maps as objects, PEMs and module bytes summarised, paths relative to `base`, secrets masked. */
function renderSnapshot(snapshot: Snapshot, base: string): string {
  const value = {
    hash: snapshot.hash,
    apis: plain(snapshot.apis),
    backends: Object.fromEntries(snapshot.backends),
    hostnames: snapshot.hostnames.map((h) => ({
      host: h.host,
      cert: pem(h.cert),
      key: pem(h.key),
      notAfter: new Date(h.notAfter).toISOString(),
      negotiateClientCertificate: h.negotiateClientCertificate,
      clientCa: h.clientCa === undefined ? undefined : pem(h.clientCa.pem),
    })),
    products: plain(snapshot.products),
    subscriptions: plain(snapshot.subscriptions),
    subscriptionKeys: plain(snapshot.subscriptionKeys.bySalt),
    modules: Object.fromEntries([...snapshot.modules].map(([digest, bytes]) => [digest, { bytes: bytes.length }])),
    files: snapshot.files.map((f) => relative(base, f)),
    secrets: snapshot.secrets.size || undefined,
  };
  return `${JSON.stringify(withoutSecrets(withoutPem(value), snapshot.secrets), null, 2)}\n`;
}

/** Replaces absolute paths under `base` in problem text, so the expected problems do not depend on where the repository is. */
function relativeText(text: string, base: string): string {
  return text.split(base).join("<case>/");
}

function subfolders(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort() : [];
}

/** Every output of every case, as the translation produces them now. */
export function goldenOutputs(): GoldenFile[] {
  const out: GoldenFile[] = [];
  const standalone = join(GOLDEN_DIR, "standalone");
  for (const name of subfolders(standalone)) {
    const dir = join(standalone, name);
    const result = snapshotFromFile(join(dir, "config.yaml"), { baseDir: dir });
    if (result.ok) out.push({ path: `standalone/${name}/snapshot.json`, text: renderSnapshot(result.snapshot, dir) });
    else out.push({ path: `standalone/${name}/problems.txt`, text: result.problems.map((p) => `${relativeText(formatProblem(p), `${dir}/`)}\n`).join("") });
  }
  const controlPlane = join(GOLDEN_DIR, "control-plane");
  for (const name of subfolders(controlPlane)) {
    const dir = join(controlPlane, name);
    const state = mkdtempSync(join(tmpdir(), "portico-golden-"));
    try {
      const store = new ModuleStore(state);
      // The case's own state folder when it has one (its salt and stored subscription keys, so hashes are the same on every run).
      const keys = new SubscriptionKeyStore(existsSync(join(dir, "state")) ? join(dir, "state") : state);
      const desired = loadDesired(join(dir, "config"), store, () => keys.salt());
      if (!desired.ok) {
        out.push({ path: `control-plane/${name}/problems.txt`, text: desired.problems.map((p) => `${relativeText(formatProblem(p), `${dir}/`)}\n`).join("") });
        continue;
      }
      const gateways = desired.config.gateways ? Object.entries(desired.config.gateways) : [["default", undefined] as const];
      for (const [gateway, assigned] of gateways) {
        const view = gatewayView(desired, assigned, keys.read());
        const parsed = JSON.parse(view.body);
        out.push({
          path: `control-plane/${name}/views/${gateway}.json`,
          text: `${JSON.stringify(withoutSecrets(withoutPem(parsed), viewSecrets(parsed)), null, 2)}\n`,
        });
        const built = snapshotFromJson(view.body, `view of ${gateway}`, { moduleBytes: (digest) => store.get(digest) });
        if (!built.ok) throw new Error(`the view of ${gateway} in ${name} does not build: ${built.problems.map(formatProblem).join("; ")}`);
        out.push({ path: `control-plane/${name}/snapshots/${gateway}.json`, text: renderSnapshot(built.snapshot, dir) });
      }
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  }
  return out;
}

/** Outputs that differ from what is on disk (or are missing there), and files on disk that no case produces. */
export function goldenDifferences(): { changed: GoldenFile[]; stale: string[] } {
  const outputs = goldenOutputs();
  const changed = outputs.filter((f) => !existsSync(join(GOLDEN_DIR, f.path)) || readFileSync(join(GOLDEN_DIR, f.path), "utf8") !== f.text);
  const produced = new Set(outputs.map((f) => f.path));
  const stale = onDisk().filter((path) => !produced.has(path));
  return { changed, stale };
}

/** The output files on disk: `snapshot.json`, `problems.txt`, and `views/` and `snapshots/` files. */
function onDisk(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(GOLDEN_DIR, dir), { withFileTypes: true })) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else if (/(^|\/)(snapshot\.json|problems\.txt)$|\/(views|snapshots)\/[^/]+\.json$/.test(path)) found.push(path);
    }
  };
  walk("");
  return found;
}

if (import.meta.main) {
  const update = process.argv.includes("--update");
  const { changed, stale } = goldenDifferences();
  for (const file of changed) {
    process.stdout.write(`${update ? "wrote" : "differs"}: config/snapshot/golden/${file.path}\n`);
    if (update) {
      mkdirSync(join(GOLDEN_DIR, file.path, ".."), { recursive: true });
      writeFileSync(join(GOLDEN_DIR, file.path), file.text);
    }
  }
  for (const path of stale) {
    process.stdout.write(`${update ? "removed" : "stale"}: config/snapshot/golden/${path}\n`);
    if (update) rmSync(join(GOLDEN_DIR, path));
  }
  if (!changed.length && !stale.length) process.stdout.write("golden outputs are up to date\n");
  process.exitCode = !update && (changed.length || stale.length) ? 1 : 0;
}
