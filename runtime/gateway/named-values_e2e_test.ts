/**
 * Acceptance test of secret named values (issue 13): a real standalone gateway and a real control
 * plane with a gateway, each using secret named values in policies that send them to the backend.
 * Requests include ones answered with problem bodies (a refused key, a failing policy, a dead
 * backend), configurations that use the secret and are refused, `portico validate` of valid and
 * invalid files, heartbeats, the admin page and admin API answers, and every line of stdout and
 * stderr with the access log on. Every output is searched for the secrets (whole, and their random
 * part alone, so a quoted fragment counts too): none may hold one, while the backend receives them.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type ControlPlaneProcess, createToken, eventually, startControlPlane, startFleetGateway } from "../../test/control-plane.ts";
import { type GatewayProcess, ROOT, runCli, startGatewayProcess, tempDir } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

const fixture = (name: string) => join(ROOT, "policies-wasm", "dist", "fixtures", `${name}.wasm`);

/** A secret with a random part; the braces make it an invalid template and the space an invalid header name. */
function makeSecret(label: string): { value: string; random: string } {
  const random = randomBytes(12).toString("hex");
  return { value: `${label} {nv.${random}}`, random };
}

/** Fails, naming where, when any text holds a secret or its random part. */
function assertNoSecret(outputs: Record<string, string>, secrets: readonly { value: string; random: string }[]): void {
  for (const [where, text] of Object.entries(outputs)) {
    for (const secret of secrets) {
      assert.ok(!text.includes(secret.random), `${where} shows a secret (${secret.value}):\n${text.slice(0, 4000)}`);
    }
  }
}

/** A backend that answers "ok" and keeps the headers of every request it received. */
async function recordingBackend(): Promise<{ upstream: Upstream; seen: Record<string, string | string[] | undefined>[] }> {
  const seen: Record<string, string | string[] | undefined>[] = [];
  const upstream = await startUpstream((req, res) => {
    seen.push(req.headers);
    req.resume();
    res.end("ok");
  });
  return { upstream, seen };
}

/** The status, content type and body of a request to the gateway. */
async function call(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; body: string; headers: string }> {
  const res = await fetch(url, { headers });
  const body = await res.text();
  return { status: res.status, type: res.headers.get("content-type"), body, headers: JSON.stringify([...res.headers]) };
}

describe("secret named values on a standalone gateway", { timeout: 120_000 }, () => {
  const inline = makeSecret("inline");
  const fromFile = makeSecret("file");
  let backend: Awaited<ReturnType<typeof recordingBackend>>;
  let gateway: GatewayProcess;
  const answers: Record<string, string> = {};
  const secretsDir = tempDir();
  const tokenFile = join(secretsDir, "token.txt");

  const config = (dead: string) => `
namedValues:
  backend-token: { value: "${inline.value}", secret: true }
  file-token: { file: ${JSON.stringify(tokenFile)} }
  tenant: { value: acme }
apis:
  - name: svc
    path: /svc
    backend: b
    policies:
      inbound:
        - { policy: set-header, with: { name: authorization, value: "Bearer {{backend-token}}" } }
        - { policy: set-header, with: { name: x-file-token, value: "{{file-token}}" } }
        - { policy: set-header, with: { name: x-tenant, value: "{{tenant}}" } }
  - name: guarded
    path: /guarded
    backend: b
    policies:
      inbound: [ { policy: check-header, with: { name: x-key, values: ["{{backend-token}}"], failed-check-httpcode: 401, failed-check-error-message: denied } } ]
  - name: broken
    path: /broken
    backend: b
    policies:
      inbound: [ { policy: set-header, with: { name: x-secret, value: "{{file-token}}" } }, { policy: trap } ]
      on-error: [ { policy: probe } ]
  - name: open
    path: /open
    backend: b
    policies:
      inbound: [ { policy: set-header, with: { name: x-secret, value: "{{backend-token}}" } }, { policy: trap, failure: open } ]
  - name: down
    path: /down
    backend: dead
    policies:
      inbound: [ { policy: set-header, with: { name: authorization, value: "Bearer {{backend-token}}" } } ]
backends:
  b: { urls: ["${backend.upstream.url}"] }
  dead: { urls: ["${dead}"], timeout: 2s }
policies:
  trap: { module: ${JSON.stringify(fixture("trap"))} }
  probe: { module: ${JSON.stringify(fixture("error-probe"))} }
`;

  /** Uses the secrets where they are invalid: as a header name, in a template, and in a bad custom use. */
  const invalid = () => `
namedValues:
  backend-token: { value: "${inline.value}", secret: true }
  file-token: { file: ${JSON.stringify(tokenFile)} }
apis:
  - name: svc
    path: /svc
    backend: b
    policies:
      inbound:
        - { policy: set-header, with: { name: "{{backend-token}}", value: x } }
        - { policy: rate-limit-by-key, with: { calls: 5, renewal-period: 60, counter-key: "{{file-token}}" } }
        - { policy: set-backend-service, with: { backend-id: "{{backend-token}}" } }
        - { policy: rate-limit, with: { calls: "{{file-token}}", renewal-period: 60 } }
        - { policy: set-header, with: { name: x, value: "{{nope}}" } }
backends:
  b: { urls: ["${backend.upstream.url}"] }
`;

  before(async () => {
    backend = await recordingBackend();
    const deadPort = await startUpstream((_req, res) => res.end()).then(async (u) => {
      const port = new URL(u.url).port;
      await u.close();
      return port;
    });
    writeFileSync(tokenFile, `${fromFile.value}\n`);
    gateway = await startGatewayProcess({ config: config(`http://127.0.0.1:${deadPort}`) });
  });

  after(async () => {
    await gateway?.stop();
    await backend?.upstream.close();
  });

  it("sends the secrets to the backend and never prints them", async () => {
    const ok = await call(`${gateway.url}/svc/x`);
    assert.equal(ok.status, 200, ok.body);
    const received = backend.seen.at(-1)!;
    assert.equal(received.authorization, `Bearer ${inline.value}`);
    assert.equal(received["x-file-token"], fromFile.value, "one trailing line break of the file is dropped");
    assert.equal(received["x-tenant"], "acme");

    // A refused key, the right key, a policy that fails closed (with on-error), one that fails open, a dead backend.
    const refused = await call(`${gateway.url}/guarded/x`, { "x-key": "wrong" });
    assert.equal(refused.status, 401);
    assert.equal(refused.type, "application/problem+json");
    assert.equal((await call(`${gateway.url}/guarded/x`, { "x-key": inline.value })).status, 200);
    const failed = await call(`${gateway.url}/broken/x`);
    assert.equal(failed.status, 500, failed.body);
    assert.match(failed.body, /policy-failed/);
    const open = await call(`${gateway.url}/open/x`);
    assert.equal(open.status, 200);
    const down = await call(`${gateway.url}/down/x`);
    assert.equal(down.status, 502, down.body);
    Object.assign(answers, {
      refused: refused.body + refused.headers,
      failed: failed.body + failed.headers,
      open: open.body + open.headers,
      down: down.body + down.headers,
    });

    // A change that uses the secrets where they are invalid is refused, with every problem, and the last good one keeps serving.
    const mark = gateway.output().length;
    writeFileSync(gateway.configFile, invalid());
    await gateway.waitForOutput(/configuration rejected/, 10_000, mark);
    assert.equal((await call(`${gateway.url}/svc/x`)).status, 200);

    const logs = gateway.output();
    assert.match(logs, /"method":"GET"/, "the access log is on");
    assert.match(logs, /policy failed and was skipped/);
    assert.match(logs, /unknown named value \{\{nope\}\}/);
    assert.match(logs, /expected a header name/);

    // portico validate, of the valid file and of the invalid one.
    const validFile = join(secretsDir, "valid.yaml");
    writeFileSync(validFile, config("http://127.0.0.1:9"));
    const valid = await runCli(["validate", validFile]);
    assert.equal(valid.code, 0, valid.stderr);
    const invalidFile = join(secretsDir, "invalid.yaml");
    writeFileSync(invalidFile, invalid());
    const refusedFile = await runCli(["validate", invalidFile]);
    assert.equal(refusedFile.code, 1);
    assert.match(refusedFile.stderr, /with\.name: expected a header name \(got "\{\{backend-token\}\}"\)/);
    assert.match(refusedFile.stderr, /with\.value: unknown named value \{\{nope\}\}/);
    assert.match(refusedFile.stderr, /counter-key: template has an unknown placeholder \(not shown/);

    assertNoSecret(
      {
        ...answers,
        "gateway output": logs,
        "validate (valid)": valid.stdout + valid.stderr,
        "validate (invalid)": refusedFile.stdout + refusedFile.stderr,
      },
      [inline, fromFile],
    );
  });
});

describe("secret named values through a control plane", { timeout: 120_000 }, () => {
  const fromFile = makeSecret("cp-file");
  const fromEnv = makeSecret("cp-env");
  const unused = makeSecret("cp-unused");
  let backend: Awaited<ReturnType<typeof recordingBackend>>;
  let plane: ControlPlaneProcess;
  let gateway: GatewayProcess;
  let relay: Upstream;
  const heartbeats: string[] = [];
  const controlPlaneAnswers: string[] = [];

  const config = (extra = "") => `
namedValues:
  backend-token: { file: secrets/token.txt }
  env-token: { env: NV_E2E_TOKEN }
  unused: { value: "${unused.value}", secret: true }
apis:
  - name: svc
    path: /svc
    backend: b
    policies:
      inbound:
        - { policy: set-header, with: { name: authorization, value: "Bearer {{backend-token}}" } }
        - { policy: set-header, with: { name: x-env-token, value: "{{env-token}}" } }
  - name: broken
    path: /broken
    backend: b
    policies:
      inbound: [ { policy: set-header, with: { name: x-secret, value: "{{env-token}}" } }, { policy: trap } ]
${extra}
backends:
  b: { urls: ["${backend.upstream.url}"] }
policies:
  trap: { module: trap.wasm }
gateways:
  edge-1: { apis: [svc, broken] }
`;

  before(async () => {
    backend = await recordingBackend();
    const dataDir = tempDir();
    mkdirSync(join(dataDir, "config", "secrets"), { recursive: true });
    writeFileSync(join(dataDir, "config", "secrets", "token.txt"), `${fromFile.value}\n`);
    copyFileSync(fixture("trap"), join(dataDir, "config", "trap.wasm"));
    plane = await startControlPlane({ dataDir, files: { "fleet.yaml": config() }, env: { NV_E2E_TOKEN: fromEnv.value } });
    // Gateways reach the control plane through a relay that keeps every heartbeat and every answer but the views (which carry the values by design).
    relay = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", async () => {
        const body = chunks.length ? Buffer.concat(chunks) : undefined;
        if (req.url!.endsWith("/heartbeat") && body) heartbeats.push(body.toString());
        const headers: Record<string, string> = {};
        for (const name of ["authorization", "if-none-match", "content-type"]) if (typeof req.headers[name] === "string") headers[name] = req.headers[name];
        const answer = await fetch(plane.url + req.url, { method: req.method, headers, body });
        const bytes = Buffer.from(await answer.arrayBuffer());
        if (!/\/(configuration|modules\/[0-9a-f]+)$/.test(req.url!)) controlPlaneAnswers.push(bytes.toString());
        const passed: Record<string, string> = {};
        for (const name of ["etag", "portico-revision", "content-type"]) {
          const value = answer.headers.get(name);
          if (value !== null) passed[name] = value;
        }
        res.writeHead(answer.status, passed).end(bytes);
      });
    });
    gateway = await startFleetGateway(relay, await createToken(plane.dataDir, "edge-1"));
  });

  after(async () => {
    await gateway?.stop();
    await plane?.stop();
    await relay?.close();
    await backend?.upstream.close();
  });

  it("resolves env and file values on the control plane, sends them to the gateway that uses them, and never prints them", async () => {
    const ok = await call(`${gateway.url}/svc/x`);
    assert.equal(ok.status, 200, ok.body);
    const received = backend.seen.at(-1)!;
    assert.equal(received.authorization, `Bearer ${fromFile.value}`);
    assert.equal(received["x-env-token"], fromEnv.value);
    const failed = await call(`${gateway.url}/broken/x`);
    assert.equal(failed.status, 500);

    // A desired configuration that uses the secrets where they are invalid, and one whose file leaves the folder: both refused.
    const mark = plane.output().length;
    plane.writeConfig("fleet.yaml", config().replace('name: authorization, value: "Bearer {{backend-token}}"', 'name: "{{backend-token}}", value: x'));
    await plane.waitForOutput(/desired configuration rejected/, 10_000, mark);
    const rejected = await plane.status();
    assert.ok(rejected.rejected?.problems.some((p) => /expected a header name \(got "\{\{backend-token\}\}"\)/.test(p)), JSON.stringify(rejected.rejected));
    const mark2 = plane.output().length;
    plane.writeConfig("fleet.yaml", config().replace("file: secrets/token.txt", "file: ../state/admin-token"));
    await plane.waitForOutput(/desired configuration rejected/, 10_000, mark2);
    const escaped = await plane.status();
    assert.ok(
      escaped.rejected?.problems.some((p) => /namedValues\.backend-token\.file: .* is outside the configuration folder/.test(p)),
      JSON.stringify(escaped.rejected),
    );
    assert.equal((await call(`${gateway.url}/svc/x`)).status, 200, "the gateway keeps its last good view");

    // Heartbeats arrive with what was applied; the admin API and page answer.
    await eventually("a heartbeat reports the applied view", () => heartbeats.some((h) => h.includes('"applied"')));
    const adminToken = readFileSync(join(plane.dataDir, "state", "admin-token"), "utf8").trim();
    const admin = async (path: string) => {
      const res = await fetch(`${plane.url}${path}`, { headers: { authorization: `Bearer ${adminToken}` } });
      return `${res.status} ${await res.text()}`;
    };
    const status = await admin("/v1/admin/status");
    assert.match(status, /^200 /);
    const gatewayStatus = await admin("/v1/admin/gateways/edge-1");
    assert.match(gatewayStatus, /^200 /);
    const page = await admin("/");
    assert.match(page, /^200 /);

    assertNoSecret(
      {
        "failed request": failed.body,
        heartbeats: heartbeats.join("\n"),
        "control plane answers to the gateway (views aside)": controlPlaneAnswers.join("\n"),
        "admin status": status,
        "admin gateway status": gatewayStatus,
        "admin page": page,
        "control plane output": plane.output(),
        "gateway output": gateway.output(),
      },
      [fromFile, fromEnv, unused],
    );
    assert.match(gateway.output(), /"method":"GET"/, "the access log is on");
  });

  it("sends a gateway only the named values its policies use", async () => {
    const token = await createToken(plane.dataDir, "edge-1");
    const res = await fetch(`${plane.url}/v1/gateways/edge-1/configuration`, { headers: { authorization: `GatewayKey ${token}` } });
    const view = await res.json() as { namedValues?: Record<string, { value: string; secret?: boolean }> };
    assert.deepEqual(Object.keys(view.namedValues ?? {}).sort(), ["backend-token", "env-token"]);
    assert.deepEqual(view.namedValues!["backend-token"], { value: fromFile.value, secret: true });
    assert.ok(!JSON.stringify(view).includes(unused.random), "an unused secret stays on the control plane");
  });
});
