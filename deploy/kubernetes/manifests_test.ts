// The Kubernetes manifests, checked against the settings they configure: every PORTICO_* name is a
// real setting and its value parses, the token comes from the Secret, ports and probes match the
// settings, the backup path is on a volume, and memory is sized above the idle RSS of the binary,
// which the test measures itself.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { envName, resolveSettings, SETTING_KEYS } from "../../config/schema/settings.ts";
import { ROOT } from "../../test/harness.ts";
import { ensureBinaries } from "../binary/build.ts";
import { hostPlatform, startQuickstart } from "../binary/launch.ts";

const DIR = join(ROOT, "deploy/kubernetes");
// Loosely typed on purpose: the test walks manifests and asserts on what it finds.
// deno-lint-ignore no-explicit-any
type Doc = any;

/** Every document of every manifest, parsed strictly (a YAML error fails the test with its file). */
function loadManifests(): Map<string, Doc[]> {
  const files = new Map<string, Doc[]>();
  for (const file of readdirSync(DIR).filter((f) => f.endsWith(".yaml")).sort()) {
    const docs = parseAllDocuments(readFileSync(join(DIR, file), "utf8"));
    for (const doc of docs) assert.deepEqual(doc.errors, [], `${file}: ${doc.errors.map((e) => e.message).join("; ")}`);
    files.set(file, docs.map((d) => d.toJS()));
  }
  return files;
}

const manifests = loadManifests();
const all = [...manifests.values()].flat();
const one = (kind: string): Doc => {
  const found = all.filter((d) => d?.kind === kind);
  assert.equal(found.length, 1, `one ${kind}, found ${found.length}`);
  return found[0];
};
/** Kubernetes memory quantity to bytes (Mi, Gi, M, G). */
function bytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity);
  assert.ok(match, `memory quantity ${quantity}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ""] ?? 1;
  return Number(match[1]) * unit;
}
/**
 * The resident set size of this machine's single-file binary (the one the image ships) serving the
 * quickstart configuration, 2 s after it served a request through its policies, as
 * deploy/binary/measure.ts measures it. The binaries are built once per set of inputs and shared
 * with the smoke tests.
 */
async function measuredIdleRss(): Promise<number> {
  const platform = hostPlatform();
  assert.ok(platform, "this machine's architecture has a binary (x64 or arm64)");
  ensureBinaries();
  const gateway = await startQuickstart(platform, 60_000);
  try {
    const res = await fetch(`${gateway.url}/echo/hello`);
    await res.body?.cancel();
    assert.equal(res.status, 200, gateway.output());
    await new Promise((r) => setTimeout(r, 2_000));
    return gateway.rss();
  } finally {
    await gateway.stop();
  }
}

const configMap = one("ConfigMap");
const secret = one("Secret");
const deployment = one("Deployment");
const service = one("Service");
const pod = deployment.spec.template.spec;
const container = pod.containers.find((c: Doc) => c.name === "gateway");
/** The settings the pods get: ConfigMap, then the Secret's value for every env entry that points at it. */
const podEnv: Record<string, string> = { ...configMap.data };
for (const entry of container.env ?? []) {
  const ref = entry.valueFrom?.secretKeyRef;
  if (ref) {
    assert.equal(ref.name, secret.metadata.name, `${entry.name} comes from the portico Secret`);
    podEnv[entry.name] = secret.stringData[ref.key];
  } else podEnv[entry.name] = entry.value;
}
const resolved = resolveSettings(undefined, podEnv);

describe("Kubernetes manifests (deploy/kubernetes)", () => {
  it("parse, and kustomization.yaml lists every other manifest", () => {
    const kustomization = one("Kustomization");
    assert.deepEqual([...kustomization.resources].sort(), [...manifests.keys()].filter((f) => f !== "kustomization.yaml").sort());
    for (const kind of ["ConfigMap", "Secret", "Deployment", "Service"]) one(kind);
  });

  it("configure only real settings, with values that parse", () => {
    const names = new Set(SETTING_KEYS.map(envName));
    for (const name of Object.keys(podEnv)) assert.ok(names.has(name), `${name} is not a Portico setting`);
    assert.ok(resolved.ok, `settings do not parse: ${JSON.stringify(!resolved.ok && resolved.problems)}`);
    assert.deepEqual(resolved.warnings, []);
    assert.deepEqual(container.envFrom, [{ configMapRef: { name: configMap.metadata.name } }]);
  });

  it("take the token from the Secret only", () => {
    const auth = envName("config.service.auth");
    assert.ok(!(auth in configMap.data), "the token is not in the ConfigMap");
    assert.ok(secret.stringData[auth], "the Secret holds the token");
    assert.ok(container.env.some((e: Doc) => e.name === auth && e.valueFrom?.secretKeyRef), `${auth} from a secretKeyRef`);
    assert.ok(resolved.ok && resolved.settings["config.service.endpoint"], "a control plane endpoint");
  });

  it("run 2 replicas with probes on the management port and ports that match the settings", () => {
    assert.ok(resolved.ok);
    const settings = resolved.settings;
    assert.equal(deployment.spec.replicas, 2);
    const ports = new Map<string, number>(container.ports.map((p: Doc) => [p.name, p.containerPort]));
    assert.equal(ports.get("http"), settings["net.server.http.port"]);
    assert.equal(ports.get("management"), settings["net.management.port"]);
    const port = (ref: string | number) => (typeof ref === "number" ? ref : ports.get(ref));
    assert.equal(container.readinessProbe.httpGet.path, "/readyz");
    assert.equal(port(container.readinessProbe.httpGet.port), settings["net.management.port"]);
    assert.equal(container.livenessProbe.httpGet.path, "/healthz");
    assert.equal(port(container.livenessProbe.httpGet.port), settings["net.management.port"]);
    const annotations = deployment.spec.template.metadata.annotations;
    assert.equal(Number(annotations["prometheus.io/port"]), settings["net.management.port"]);
    for (const [key, value] of Object.entries(deployment.spec.selector.matchLabels)) assert.equal(deployment.spec.template.metadata.labels[key], value);
  });

  it("keep the backup on a volume the non-root user can write", () => {
    assert.ok(resolved.ok);
    const backup = resolved.settings["config.backup.path"];
    const mount = container.volumeMounts.find((m: Doc) => backup === m.mountPath || backup.startsWith(`${m.mountPath}/`));
    assert.ok(mount, `${backup} is on a mounted volume`);
    assert.ok(pod.volumes.some((v: Doc) => v.name === mount.name), `volume ${mount.name} is defined`);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.fsGroup, pod.securityContext.runAsUser);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    const containerfile = readFileSync(join(ROOT, "Containerfile"), "utf8");
    assert.match(containerfile, new RegExp(`^USER ${pod.securityContext.runAsUser}:${pod.securityContext.runAsGroup}$`, "m"), "the image's user");
  });

  it("size the memory request at 1.5 x or more the idle RSS of the binary measured here, the limit at 2 x the request, and request CPU", async () => {
    const idle = await measuredIdleRss();
    console.log(`idle RSS of the ${hostPlatform()} binary on the quickstart configuration: ${(idle / 2 ** 20).toFixed(1)} MiB`);
    const request = bytes(container.resources.requests.memory);
    const limit = bytes(container.resources.limits.memory);
    assert.ok(request >= 1.5 * idle, `memory request ${container.resources.requests.memory} covers 1.5 x the idle RSS (${(idle / 2 ** 20).toFixed(1)} MiB)`);
    assert.ok(limit >= 2 * request, `memory limit ${container.resources.limits.memory} leaves room over the request`);
    assert.ok(container.resources.requests.cpu, "a CPU request");
  });

  it("publish the traffic port through the Service, selecting the gateway pods", () => {
    for (const [key, value] of Object.entries(service.spec.selector)) assert.equal(deployment.spec.template.metadata.labels[key], value);
    const names = new Set(container.ports.map((p: Doc) => p.name));
    for (const port of service.spec.ports) assert.ok(names.has(port.targetPort), `Service targetPort ${port.targetPort} is a container port`);
    assert.ok(!service.spec.ports.some((p: Doc) => p.targetPort === "management"), "the management port is not published");
  });
});
