import assert from "node:assert/strict";
import { renameSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

describe("standalone configuration reload", () => {
  let a: Upstream;
  let b: Upstream;
  let gw: GatewayProcess;
  const config = (prefix: string, backend: string) => `
apis: [ { name: api, path: ${prefix}, backend: ${backend} } ]
backends:
  a: { urls: ["${a.url}"] }
  b: { urls: ["${b.url}"] }
`;

  before(async () => {
    a = await startUpstream((req, res) => {
      req.resume();
      res.end("a");
    });
    b = await startUpstream((req, res) => {
      req.resume();
      res.end("b");
    });
    gw = await startGatewayProcess({ config: config("/one", "a") });
  });

  after(async () => {
    await gw?.stop();
    await a?.close();
    await b?.close();
  });

  /** Polls until `path` answers `body`, returning how long it took. */
  async function until(path: string, body: string, timeoutMs = 3_000): Promise<number> {
    const started = Date.now();
    for (;;) {
      const res = await fetch(gw.url + path);
      if ((await res.text()) === body) return Date.now() - started;
      if (Date.now() - started > timeoutMs) assert.fail(`${path} did not answer ${JSON.stringify(body)} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it("applies a valid change within one second", async () => {
    assert.equal(await (await fetch(`${gw.url}/one/x`)).text(), "a");
    writeFileSync(gw.configFile, config("/two", "b"));
    const took = await until("/two/x", "b");
    assert.ok(took < 1_000, `applied after ${took} ms`);
    assert.equal((await fetch(`${gw.url}/one/x`)).status, 404, "the old route is gone");
    const ready = await (await fetch(`http://127.0.0.1:${gw.managementPort}/readyz`)).json();
    assert.equal(ready.revision, 2);
  });

  it("applies a file replaced by rename, as editors save", async () => {
    const temp = `${gw.configFile}.tmp`;
    writeFileSync(temp, config("/three", "a"));
    renameSync(temp, gw.configFile);
    assert.ok((await until("/three/x", "a")) < 1_000);
  });

  it("keeps serving the last good configuration when a change is invalid, and logs every problem", async () => {
    const mark = gw.output().length;
    writeFileSync(
      gw.configFile,
      `
apis:
  - { name: api, path: /four, backend: ordrs }
  - { name: api, path: four, backend: a }
backends:
  a: { urls: ["${a.url}"] }
`,
    );
    await gw.waitForOutput(/configuration rejected/, 3_000, mark);
    const log = gw.output().slice(mark);
    assert.match(log, /apis\[0\]\.backend: unknown backend \\"ordrs\\"/);
    assert.match(log, /apis\[1\]\.path: expected a path starting with/);
    assert.match(log, /apis\[1\]\.name: duplicate API name/);
    assert.equal(await (await fetch(`${gw.url}/three/x`)).text(), "a", "the previous configuration still serves");
    assert.equal((await fetch(`http://127.0.0.1:${gw.managementPort}/readyz`)).status, 200);

    writeFileSync(gw.configFile, config("/five", "b"));
    assert.ok((await until("/five/x", "b")) < 1_000, "a later valid change applies again");
  });
});
