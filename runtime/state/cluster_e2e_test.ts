import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";
import { type RedisCluster, startRedisCluster } from "../../test/redis-server.ts";

// The shared counters on a Redis Cluster of three real redis-server nodes: three gateway processes
// (the runtime running this test) count exactly as on one server, with keys spread over the nodes'
// slots, and a quota with calls and bandwidth, whose two counters sit in different slots.

const CONFIG = `
apis:
  - name: limited
    path: /limited
    backend: b
    policies:
      inbound: [ { policy: rate-limit-by-key, with: { calls: 20, renewal-period: 60, counter-key: "{request.header.x-tenant}" }, redis-failure: closed } ]
  - name: quota
    path: /quota
    backend: b
    policies:
      inbound: [ { policy: quota-by-key, with: { calls: 5, bandwidth: 1000, renewal-period: 3600, counter-key: "{request.header.x-tenant}" }, redis-failure: closed } ]
backends:
  b: { urls: ["BACKEND"] }
`;

async function status(url: string, tenant: string): Promise<number> {
  const res = await fetch(url, { headers: { "x-tenant": tenant } });
  await res.body?.cancel();
  return res.status;
}

describe("counters shared through a three-node Redis Cluster", { timeout: 180_000 }, () => {
  let upstream: Upstream;
  let cluster: RedisCluster;
  let gateways: GatewayProcess[] = [];

  before(async () => {
    upstream = await startUpstream();
    cluster = await startRedisCluster();
    gateways = await Promise.all([0, 1, 2].map(() =>
      startGatewayProcess({
        config: CONFIG.replace("BACKEND", upstream.url),
        env: { PORTICO_CACHE_REDIS_CLUSTER_NODES: cluster.seeds, PORTICO_CACHE_REDIS_TIMEOUT: "250ms", PORTICO_CACHE_REDIS_KEY_PREFIX: "cl:" },
      })
    ));
    // Until every gateway has the cluster's map of slots (a closed policy answers 503 before that).
    const deadline = Date.now() + 20_000;
    for (const gw of gateways) {
      while ((await (await fetch(`http://127.0.0.1:${gw.managementPort}/readyz`)).json() as { redis?: string }).redis !== "up") {
        if (Date.now() > deadline) assert.fail(`gateway not connected to the cluster:\n${gw.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }, { timeout: 60_000 });

  after(async () => {
    await Promise.all(gateways.map((gw) => gw.stop()));
    await cluster?.stop();
    await upstream?.close();
  });

  it("admits exactly the limit of each key across three gateways, keys spread over the nodes", { timeout: 60_000 }, async () => {
    const tenants = ["t-a", "t-b", "t-c", "t-d", "t-e", "t-f"];
    // Per tenant: 3 clients × 12 calls over the three gateways = 36 calls for a limit of 20.
    const results = await Promise.all(tenants.flatMap((tenant) =>
      [0, 1, 2].map(async (client) => {
        const seen: number[] = [];
        for (let i = 0; i < 12; i++) seen.push(await status(`${gateways[(client + i) % 3]!.url}/limited/x`, tenant));
        return { tenant, seen };
      })
    ));
    for (const tenant of tenants) {
      const all = results.filter((r) => r.tenant === tenant).flatMap((r) => r.seen);
      assert.equal(all.filter((s) => s === 200).length, 20, tenant);
      assert.equal(all.filter((s) => s === 429).length, 16, tenant);
    }
    const holding = cluster.nodes.filter((node) => Number(node.cli("dbsize").trim()) > 0).length;
    assert.ok(holding >= 2, `the counters sit on ${holding} node(s)`);
  });

  it("counts a quota's calls and bandwidth, whose counters sit in different slots", { timeout: 60_000 }, async () => {
    for (let i = 0; i < 5; i++) assert.equal(await status(`${gateways[i % 3]!.url}/quota/q`, "t-quota"), 200);
    assert.equal(await status(`${gateways[2]!.url}/quota/q`, "t-quota"), 403);
    // The bandwidth counter exists (in its own slot) next to the calls counter.
    const keys = cluster.nodes.map((node) => node.cli("--raw", "eval", "return #redis.call('KEYS', ARGV[1])", "0", "cl:c:*bytes/*t-quota*").trim());
    assert.equal(keys.reduce((sum, n) => sum + Number(n), 0), 1, keys.join(","));
  });
});
