import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { type RedisServer, startRedisServer } from "../../test/redis-server.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

const PASSWORD = "e2e-cache-pass-0002";
/** Above the 50 ms default: two gateways, Redis and the test share two loaded cores. */
const TIMEOUT_MS = 250;

// The response and value caches with `caching-type: external` on a real redis-server, shared by two
// real gateway processes: what one gateway stored, the other answers from Redis without calling the
// backend; vary-by-query, expiry and the backend's no-store hold there too; Redis down is a miss.
describe("the caches on Redis, shared by two gateways", { timeout: 120_000 }, () => {
  let backend: Upstream;
  let redis: RedisServer;
  let gateways: GatewayProcess[] = [];
  const prefix = `e2e-cache-${process.pid}:`;
  const calls = new Map<string, number>();
  const called = (url: string) => calls.get(url) ?? 0;

  /** Waits until Redis holds `count` keys of this test (the external store is written after the answer). */
  async function keysInRedis(count: number): Promise<void> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const keys = redis.cli("--no-auth-warning", "-a", PASSWORD, "--scan", "--pattern", `${prefix}*`).split("\n").filter(Boolean);
      if (keys.length >= count) return;
      if (Date.now() > deadline) assert.fail(`Redis holds ${keys.length} keys of this test, expected ${count}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  before(async () => {
    backend = await startUpstream((req, res) => {
      const n = (calls.get(req.url!) ?? 0) + 1;
      calls.set(req.url!, n);
      req.resume();
      req.on("end", () => {
        const headers: Record<string, string> = { "content-type": "text/plain" };
        if (req.url!.includes("no-store")) headers["cache-control"] = "no-store";
        res.writeHead(200, headers);
        res.end(`call ${n} of ${req.url} got=${new URL(req.url!, "http://x").searchParams.get("got") ?? ""}`);
      });
    });
    redis = await startRedisServer({ password: PASSWORD });
    const lookup =
      `{ policy: cache-lookup, with: { vary-by-developer: false, vary-by-developer-groups: false, caching-type: external, vary-by-query-parameter: [a] } }`;
    const config = `
apis:
  - name: r
    path: /r
    backend: main
    policies:
      inbound: [ ${lookup} ]
      outbound: [ { policy: cache-store, with: { duration: 60 } } ]
  - name: short
    path: /short
    backend: main
    policies:
      inbound: [ ${lookup} ]
      outbound: [ { policy: cache-store, with: { duration: 1 } } ]
  - name: v
    path: /v
    backend: main
    operations:
      - name: store
        method: PUT
        url: /{name}
        policies:
          inbound: [ { policy: cache-store-value, with: { key: "value-{name}", value: "{request.header.x-value}", duration: 60, caching-type: external } } ]
      - name: read
        method: GET
        url: /{name}
        policies:
          inbound:
            - { policy: cache-lookup-value, with: { key: "value-{name}", variable-name: found, default-value: none, caching-type: external } }
            - { policy: set-query-parameter, with: { name: got, value: "{context.variable.found}" } }
backends:
  main: { urls: ["${backend.url}"] }
`;
    gateways = await Promise.all([0, 1].map(() =>
      startGatewayProcess({
        config,
        env: {
          PORTICO_CACHE_REDIS_URL: redis.url,
          PORTICO_CACHE_REDIS_PASSWORD: PASSWORD,
          PORTICO_CACHE_REDIS_KEY_PREFIX: prefix,
          PORTICO_CACHE_REDIS_TIMEOUT: `${TIMEOUT_MS}ms`,
        },
      })
    ));
  }, { timeout: 60_000 });

  after(async () => {
    await Promise.all(gateways.map((gw) => gw.stop()));
    await redis?.stop();
    await backend?.close();
  });

  it("a response stored through one gateway is a hit on the other; another query value is a miss", async () => {
    const [a, b] = gateways as [GatewayProcess, GatewayProcess];
    const first = await fetch(`${a.url}/r/item?a=1`);
    assert.equal(first.status, 200);
    assert.equal(await first.text(), "call 1 of /item?a=1 got=");
    await keysInRedis(1);
    const hit = await fetch(`${b.url}/r/item?a=1`);
    assert.equal(hit.status, 200);
    assert.equal(await hit.text(), "call 1 of /item?a=1 got=", "answered from Redis");
    assert.ok(hit.headers.has("age"), "a hit carries Age");
    assert.equal(called("/item?a=1"), 1, "the backend was called once");
    const other = await fetch(`${b.url}/r/item?a=2`);
    assert.equal(await other.text(), "call 1 of /item?a=2 got=");
    assert.equal(called("/item?a=2"), 1);
  });

  it("an entry expires after its duration, and a no-store response is never kept", async () => {
    const [a, b] = gateways as [GatewayProcess, GatewayProcess];
    await (await fetch(`${a.url}/short/brief`)).text();
    await (await fetch(`${a.url}/r/no-store`)).text();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await (await fetch(`${b.url}/r/no-store`)).text(), "call 2 of /no-store got=", "no-store: the backend again");
    assert.equal(await (await fetch(`${b.url}/short/brief`)).text(), "call 1 of /brief got=", "within its second: a hit");
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    assert.equal(await (await fetch(`${b.url}/short/brief`)).text(), "call 2 of /brief got=", "after its second: the backend again");
  });

  it("a value stored through one gateway is read through the other", async () => {
    const [a, b] = gateways as [GatewayProcess, GatewayProcess];
    assert.equal((await fetch(`${a.url}/v/colour`, { method: "PUT", headers: { "x-value": "teal" } })).status, 200);
    const deadline = Date.now() + 5_000;
    let body = "";
    while (Date.now() < deadline) {
      body = await (await fetch(`${b.url}/v/colour`)).text();
      if (body.endsWith("got=teal")) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.match(body, /got=teal$/);
    assert.match(await (await fetch(`${b.url}/v/unknown`)).text(), /got=none$/, "a missing value gets its default");
  });

  it("with Redis down a lookup is a miss answered by the backend, never an error", async () => {
    const [a] = gateways as [GatewayProcess, GatewayProcess];
    await redis.stop();
    try {
      const started = Date.now();
      const answer = await fetch(`${a.url}/r/item?a=1`);
      assert.equal(answer.status, 200);
      assert.equal(await answer.text(), "call 2 of /item?a=1 got=", "the entry is out of reach: the backend answers");
      assert.ok(Date.now() - started < TIMEOUT_MS * 4 + 1_000, `answered in ${Date.now() - started} ms`);
    } finally {
      await redis.start();
    }
  });
});
