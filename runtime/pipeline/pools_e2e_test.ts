import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";

/** A pool member under test: answers its name on every path but `/healthz`, counts those calls, and can be stopped and started again on its port. */
interface Member {
  readonly name: string;
  readonly url: string;
  /** Calls other than health checks since the last `reset`. */
  calls: number;
  /** Health checks seen since it started. */
  checks: number;
  stop(): Promise<void>;
  /** Listens again on the same port (a backend that restarts). */
  start(): Promise<void>;
}

async function member(name: string): Promise<Member> {
  let server: Server | undefined;
  let port = 0;
  const m: Member = {
    name,
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    calls: 0,
    checks: 0,
    start: () =>
      new Promise<void>((resolve, reject) => {
        server = createServer((req, res) => {
          if (req.url === "/healthz") m.checks += 1;
          else m.calls += 1;
          req.resume();
          res.writeHead(200, { "content-type": "text/plain" }).end(name);
        });
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => {
          port = (server!.address() as { port: number }).port;
          resolve();
        });
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        server!.close(() => resolve());
        server!.closeAllConnections();
      }),
  };
  await m.start();
  return m;
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("load-balanced backend pools", { timeout: 180_000 }, () => {
  let gw: GatewayProcess;
  const m: Record<string, Member> = {};
  let config = "";

  /** What `/readyz` says of one backend's members, by URL. */
  const health = async (backend: string): Promise<Record<string, string>> => {
    const body = await (await fetch(`http://127.0.0.1:${gw.managementPort}/readyz`)).json() as { backends: Record<string, { url: string; health: string }[]> };
    return Object.fromEntries(body.backends[backend]!.map((x) => [x.url, x.health]));
  };

  /** Sends `n` requests to a path (`parallel` at a time) and returns the answers by member name, non-200 answers as "status NNN". */
  const send = async (path: string, n: number, parallel = 10): Promise<Record<string, number>> => {
    const seen: Record<string, number> = {};
    for (let done = 0; done < n; done += parallel) {
      const answers = await Promise.all(Array.from({ length: Math.min(parallel, n - done) }, async () => {
        const res = await fetch(gw.url + path);
        const text = await res.text();
        return res.status === 200 ? text : `status ${res.status}`;
      }));
      for (const a of answers) seen[a] = (seen[a] ?? 0) + 1;
    }
    return seen;
  };

  before(async () => {
    for (const name of ["a", "b", "c", "d", "e", "f", "g", "h", "i"]) m[name] = await member(name);
    const checks = `health: { path: /healthz, interval: 1s, timeout: 1s, unhealthy-threshold: 2, healthy-threshold: 1 }`;
    gw = await startGatewayProcess({
      config: config = `
apis:
  - { name: weights, path: /weights, backend: weighted }
  - { name: checked, path: /checked, backend: checked }
  - { name: failover, path: /failover, backend: failover }
  - { name: passive, path: /passive, backend: passive }
backends:
  weighted:
    urls: [ { url: "${m.a!.url}", weight: 3 }, "${m.b!.url}" ]
  checked:
    urls: [ "${m.c!.url}", "${m.d!.url}" ]
    ${checks}
    passive: false
  failover:
    urls: [ "${m.e!.url}", { url: "${m.f!.url}" }, { url: "${m.g!.url}", priority: 1 } ]
    ${checks}
    passive: false
  passive:
    urls: [ "${m.h!.url}", "${m.i!.url}" ]
    passive: { consecutive-failures: 2, ejection: 2s }
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await Promise.all(Object.values(m).map((x) => x.stop().catch(() => {})));
  });

  it("splits 1,000 requests 3:1 by weight (within 5 %)", async () => {
    const seen = await send("/weights/x", 1000);
    assert.deepEqual(Object.keys(seen).sort(), ["a", "b"], JSON.stringify(seen));
    assert.ok(Math.abs(seen.a! / 1000 - 0.75) <= 0.05, `a got ${seen.a} of 1000, b ${seen.b}`);
    assert.equal(m.a!.calls + m.b!.calls, 1000);
  });

  it("stops sending to a killed member once its checks fail, and sends to it again after it restarts", async () => {
    assert.deepEqual(await send("/checked/x", 20), { c: 10, d: 10 });
    await m.d!.stop();
    await until(async () => (await health("checked"))[m.d!.url] === "unhealthy", "/readyz to show d unhealthy");
    assert.equal((await health("checked"))[m.c!.url], "healthy");
    assert.deepEqual(await send("/checked/x", 40), { c: 40 }, "every request goes to c while d is down");
    const metrics = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`portico_backend_member_healthy\\{backend="checked",member="${m.d!.url}"\\} 0`));
    assert.match(metrics, new RegExp(`portico_backend_member_healthy\\{backend="checked",member="${m.c!.url}"\\} 1`));
    const ready = await fetch(`http://127.0.0.1:${gw.managementPort}/readyz`);
    assert.equal(ready.status, 200, "a dead backend member does not make the gateway unready");
    // A reload keeps member health: d is still out at once (fresh state would start healthy and need two failed checks).
    const before = (await ready.json() as { local: number }).local;
    writeFileSync(gw.configFile, config.replace("apis:\n", "apis:\n  - { name: extra, path: /extra, backend: weighted }\n"));
    await until(async () => ((await (await fetch(`http://127.0.0.1:${gw.managementPort}/readyz`)).json()) as { local: number }).local > before, "the reload");
    assert.equal((await health("checked"))[m.d!.url], "unhealthy", "still unhealthy right after the reload");
    assert.deepEqual(await send("/checked/x", 20), { c: 20 });
    await m.d!.start();
    await until(async () => (await health("checked"))[m.d!.url] === "healthy", "/readyz to show d healthy again");
    m.d!.calls = 0;
    const back = await send("/checked/x", 40);
    assert.deepEqual(back, { c: 20, d: 20 });
  });

  it("fails over to the priority-1 group when every priority-0 member is down, and back when they return", async () => {
    const first = await send("/failover/x", 20);
    assert.deepEqual(first, { e: 10, f: 10 }, "priority 1 gets nothing while priority 0 is healthy");
    await m.e!.stop();
    await m.f!.stop();
    await until(async () => {
      const h = await health("failover");
      return h[m.e!.url] === "unhealthy" && h[m.f!.url] === "unhealthy";
    }, "/readyz to show e and f unhealthy");
    assert.deepEqual(await send("/failover/x", 30), { g: 30 });
    await m.e!.start();
    await m.f!.start();
    await until(async () => {
      const h = await health("failover");
      return h[m.e!.url] === "healthy" && h[m.f!.url] === "healthy";
    }, "/readyz to show e and f healthy again");
    assert.deepEqual(await send("/failover/x", 20), { e: 10, f: 10 }, "traffic returns to priority 0");
  });

  it("ejects a member after consecutive failed calls, and sends to it again once the ejection is over", async () => {
    await m.i!.stop();
    // One at a time, in turn: h, i (502), h, i (502: the second failure in a row ejects i), then h alone.
    assert.deepEqual(await send("/passive/x", 40, 1), { h: 38, "status 502": 2 });
    assert.deepEqual((await health("passive"))[m.i!.url], "ejected");
    const metrics = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`portico_backend_member_ejections_total\\{backend="passive",member="${m.i!.url}"\\} 1`));
    await m.i!.start();
    await until(async () => (await health("passive"))[m.i!.url] === "healthy", "the ejection to end");
    assert.deepEqual(await send("/passive/x", 20), { h: 10, i: 10 });
  });
});
