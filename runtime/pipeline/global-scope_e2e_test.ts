import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

describe("the global policy scope", { timeout: 60_000 }, () => {
  let upstream: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    upstream = await startUpstream();
    const header = (name: string, value: string) => `{ policy: set-header, with: { name: ${name}, value: ${value} } }`;
    gw = await startGatewayProcess({
      config: `
global:
  policies:
    inbound: [ ${header("x-global", "yes")}, ${header("x-order", "global")} ]
apis:
  - { name: plain, path: /plain, backend: up }
  - { name: parent-first, path: /first, backend: up, policies: { inbound: [ ${header("x-order", "api")} ] } }
  - { name: base-last, path: /last, backend: up, policies: { inbound: [ ${header("x-order", "api")}, base ] } }
backends:
  up: { urls: ["${upstream.url}"] }
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const seen = async (path: string) => (await (await fetch(gw.url + path)).json()).headers as Record<string, string>;

  it("runs for every API", async () => {
    assert.equal((await seen("/plain/x"))["x-global"], "yes");
    assert.equal((await seen("/last/x"))["x-global"], "yes");
  });

  it("runs before an API's own policies unless the API places base", async () => {
    assert.equal((await seen("/first/x"))["x-order"], "api", "global first, then the API's (which overrides)");
    assert.equal((await seen("/last/x"))["x-order"], "global", "the API's first, then base (global)");
  });
});
