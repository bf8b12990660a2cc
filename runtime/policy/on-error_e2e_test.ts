import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort, type GatewayProcess, ROOT, runCli, startGatewayProcess, tempDir } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

const module = (name: string) => JSON.stringify(`${ROOT}policies-wasm/dist/fixtures/${name}.wasm`);

describe("the on-error section", { timeout: 60_000 }, () => {
  let upstream: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      req.resume();
      res.end("ok");
    });
    const closed = await freePort(); // nothing listens there: the backend is unreachable
    gw = await startGatewayProcess({
      config: `
apis:
  - name: down
    path: /down
    backend: nowhere
    policies:
      on-error:
        - { policy: set-header, with: { name: x-error-handled, value: "yes" } }
        - { policy: error-probe }
  - name: replaced
    path: /replaced
    backend: nowhere
    policies:
      on-error: [ { policy: return-response, with: { status-code: 503, content-type: text/plain, body: "down for maintenance" } } ]
  - name: trapped
    path: /trapped
    backend: up
    policies:
      inbound: [ { policy: trap } ]
      on-error: [ { policy: error-probe } ]
  - name: fine
    path: /fine
    backend: up
    policies:
      on-error: [ { policy: set-header, with: { name: x-error-handled, value: "yes" } } ]
backends:
  up: { urls: ["${upstream.url}"] }
  nowhere: { urls: ["http://127.0.0.1:${closed}"], timeout: 2s }
policies:
  trap: { module: ${module("trap")} }
  error-probe: { module: ${module("error-probe")} }
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  it("runs on the gateway's error answer: headers added, and what failed is readable", async () => {
    const res = await fetch(`${gw.url}/down/x`);
    assert.equal(res.status, 502);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    assert.equal((await res.json()).type, "urn:portico:problem:backend-unreachable");
    assert.equal(res.headers.get("x-error-handled"), "yes");
    assert.equal(res.headers.get("x-last-error"), "backend/backend-unreachable/502/");
  });

  it("lets return-response replace the error answer", async () => {
    const res = await fetch(`${gw.url}/replaced/x`);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("content-type"), "text/plain");
    assert.equal(await res.text(), "down for maintenance");
  });

  it("runs when a policy fails, naming the section and the policy", async () => {
    const res = await fetch(`${gw.url}/trapped/x`);
    assert.equal(res.status, 500);
    assert.equal((await res.json()).type, "urn:portico:problem:policy-failed");
    assert.equal(res.headers.get("x-last-error"), "inbound/policy-failed/500/trap");
  });

  it("does not run when nothing failed", async () => {
    const res = await fetch(`${gw.url}/fine/x`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok");
    assert.equal(res.headers.get("x-error-handled"), null);
  });

  it("refuses a policy whose module cannot run in on-error", async () => {
    const file = join(tempDir(), "bad.yaml");
    writeFileSync(
      file,
      `apis:\n  - { name: a, path: /a, backend: b, policies: { on-error: [ { policy: trap } ] } }\nbackends:\n  b: { urls: ["http://127.0.0.1:9"] }\npolicies:\n  trap: { module: ${
        module("trap")
      } }\n`,
    );
    const res = await runCli(["gateway", "--config", file], { PORTICO_NET_SERVER_HTTP_PORT: "0", PORTICO_NET_MANAGEMENT_PORT: "0" });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /policy "trap" is used in on-error but its module has no on_error hook/);
  });
});
