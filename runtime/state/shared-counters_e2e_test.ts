import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";
import { type RedisServer, startRedisServer } from "../../test/redis-server.ts";

// Rate limits and quotas shared through a real redis-server by three real gateway processes (the
// runtime running this test) in front of one backend on loopback: exactly the limit across them
// under concurrent load, quotas that outlive the gateways, and what `redis-failure` does while
// Redis is stopped and once it is back.

const PASSWORD = "e2e-redis-pass-0001";
/**
 * cache.redis.timeout of the gateways: above the 50 ms default, because three gateways, their
 * clients and Redis share a small test machine (a late answer would count in-process, as it should).
 */
const TIMEOUT_MS = 250;

const CONFIG = `
apis:
  - name: limited
    path: /limited
    backend: b
    policies:
      inbound: [ { policy: rate-limit-by-key, with: { calls: 50, renewal-period: 60, counter-key: "{request.header.x-tenant}" } } ]
  - name: remaining
    path: /remaining
    backend: b
    policies:
      inbound: [ { policy: rate-limit-by-key, with: { calls: 5, renewal-period: 60, counter-key: "{request.header.x-tenant}", remaining-calls-header-name: x-remaining, total-calls-header-name: x-total } } ]
  - name: quota
    path: /quota
    backend: b
    policies:
      inbound: [ { policy: quota-by-key, with: { calls: 4, renewal-period: 86400, counter-key: "{request.header.x-tenant}" } } ]
  - name: bandwidth
    path: /bandwidth
    backend: b
    policies:
      inbound: [ { policy: quota-by-key, with: { bandwidth: 1, renewal-period: 3600, counter-key: "{request.header.x-tenant}" } } ]
  - name: slots
    path: /slots
    backend: b
    policies:
      inbound: [ { policy: limit-concurrency, with: { key: "{request.header.x-tenant}", max-count: 2 } } ]
  - name: open
    path: /open
    backend: b
    policies:
      inbound: [ { policy: rate-limit-by-key, with: { calls: 1000, renewal-period: 60, counter-key: "{request.header.x-tenant}" }, redis-failure: open } ]
  - name: closed
    path: /closed
    backend: b
    policies:
      inbound: [ { policy: rate-limit-by-key, with: { calls: 1000, renewal-period: 60, counter-key: "{request.header.x-tenant}" }, redis-failure: closed } ]
backends:
  b: { urls: ["BACKEND"] }
`;

/** Status, headers and time of one call. */
interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
  readonly ms: number;
}

async function call(url: string, tenant: string): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(url, { headers: { "x-tenant": tenant } });
  return { status: res.status, headers: res.headers, body: await res.text(), ms: performance.now() - started };
}

async function readyz(gw: GatewayProcess): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${gw.managementPort}/readyz`);
  return await res.json() as Record<string, unknown>;
}

/** Waits until every gateway's /readyz says `redis` is `state`. */
async function redisState(gateways: readonly GatewayProcess[], state: "up" | "degraded", ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const seen = await Promise.all(gateways.map(async (gw) => (await readyz(gw)).redis));
    if (seen.every((s) => s === state)) return;
    if (Date.now() > deadline) assert.fail(`redis not ${state} on every gateway within ${ms} ms (saw ${seen.join(", ")})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("counters shared through Redis by three gateway processes", { timeout: 180_000 }, () => {
  let upstream: Upstream;
  let redis: RedisServer;
  let gateways: GatewayProcess[] = [];
  let config: string;

  /** Starts three gateways; if one does not start, stops the others before failing (none is left running). */
  const start = async () => {
    const started = await Promise.allSettled([0, 1, 2].map(() =>
      startGatewayProcess({
        config,
        env: {
          PORTICO_CACHE_REDIS_URL: `redis://127.0.0.1:${redis.port}`,
          PORTICO_CACHE_REDIS_PASSWORD: PASSWORD,
          PORTICO_CACHE_REDIS_KEY_PREFIX: `e2e-${process.pid}:`,
          PORTICO_CACHE_REDIS_TIMEOUT: `${TIMEOUT_MS}ms`,
        },
      })
    ));
    const running = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
    const failed = started.find((s) => s.status === "rejected");
    if (failed) {
      await Promise.all(running.map((gw) => gw.stop()));
      throw failed.reason;
    }
    return running;
  };

  before(async () => {
    // Calls to /slots/slow are answered after 800 ms, so that they hold their concurrency slot meanwhile.
    upstream = await startUpstream((req, res) => {
      req.resume();
      // /bandwidth/big: 1,500 bytes, more than a bandwidth quota of 1 KiB.
      req.on("end", () => setTimeout(() => res.end(req.url!.includes("/big") ? "x".repeat(1500) : "ok"), req.url!.includes("/slow") ? 800 : 0));
    });
    redis = await startRedisServer({ password: PASSWORD });
    config = CONFIG.replace("BACKEND", upstream.url);
    gateways = await start();
    await redisState(gateways, "up");
  }, { timeout: 60_000 });

  after(async () => {
    await Promise.all(gateways.map((gw) => gw.stop()));
    await redis?.stop();
    await upstream?.close();
  });

  it("admits exactly 50 calls of one key across three gateways under concurrent load, then 429 with Retry-After", { timeout: 60_000 }, async () => {
    // 6 clients, each sending 25 calls one after the other, spread over the three gateways: 150 calls for a limit of 50.
    const answers = (await Promise.all(Array.from({ length: 6 }, async (_, client) => {
      const mine: Answer[] = [];
      for (let i = 0; i < 25; i++) mine.push(await call(`${gateways[(client + i) % 3]!.url}/limited/x`, "tenant-load"));
      return mine;
    }))).flat();
    const admitted = answers.filter((a) => a.status === 200).length;
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(admitted, 50);
    assert.equal(refused.length, 100);
    for (const answer of refused) {
      const retry = Number(answer.headers.get("retry-after"));
      assert.ok(retry >= 1 && retry <= 60, `Retry-After ${answer.headers.get("retry-after")}`);
      assert.equal(answer.headers.get("content-type"), "application/problem+json");
    }
    // Another key has its own counter.
    assert.equal((await call(`${gateways[0]!.url}/limited/x`, "tenant-other")).status, 200);
    // Every gateway counted through Redis: none fell back.
    for (const gw of gateways) {
      const metrics = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
      assert.match(metrics, /^portico_redis_up 1$/m);
      assert.doesNotMatch(metrics, /^portico_redis_fallbacks_total [1-9]/m);
    }
  });

  it(
    "gives each call the remaining calls Redis counted, whichever gateway it reached (the policy runs again with Redis's answer)",
    { timeout: 60_000 },
    async () => {
      const answers: Answer[] = [];
      for (let i = 0; i < 7; i++) answers.push(await call(`${gateways[i % 3]!.url}/remaining/x`, "tenant-remaining"));
      assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200, 429, 429]);
      assert.deepEqual(answers.map((a) => a.headers.get("x-remaining")), ["4", "3", "2", "1", "0", "0", "0"]);
      assert.ok(answers.every((a) => a.headers.get("x-total") === "5"));
    },
  );

  it("holds a limit-concurrency of 2 across three gateways, and gives the slots back when the answers are ready", { timeout: 60_000 }, async () => {
    const answers = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => call(`${gateways[i % 3]!.url}/slots/slow`, "tenant-slots")));
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 429, 429, 429, 429]);
    assert.match(answers.find((a) => a.status === 429)!.body, /concurrency-limited/);
    // Given back in the background once each answer's headers were ready: none is held a moment later.
    const held = "local k = redis.call('KEYS', ARGV[1]) if #k == 0 then return 0 end return redis.call('ZCARD', k[1])";
    const deadline = Date.now() + 5_000;
    while (redis.cli("--raw", "eval", held, "0", `e2e-${process.pid}:s:*tenant-slots`).trim() !== "0") {
      if (Date.now() > deadline) assert.fail("concurrency slots still held in Redis 5 s after the answers");
      await new Promise((r) => setTimeout(r, 50));
    }
    // Then two at once pass again, on any gateway.
    const again = await Promise.all([call(`${gateways[2]!.url}/slots/slow`, "tenant-slots"), call(`${gateways[1]!.url}/slots/slow`, "tenant-slots")]);
    assert.deepEqual(again.map((a) => a.status), [200, 200]);
  });

  it("shares a bandwidth quota: the bytes one gateway streamed refuse the next call on another", { timeout: 60_000 }, async () => {
    const first = await call(`${gateways[0]!.url}/bandwidth/big`, "tenant-bytes");
    assert.equal(first.status, 200);
    assert.equal(first.body.length, 1500);
    // The bytes are added to Redis in the background as they stream: wait until they are there.
    const read = "local k = redis.call('KEYS', ARGV[1]) if #k ~= 1 then return -#k end return redis.call('GET', k[1])";
    const deadline = Date.now() + 5_000;
    while (redis.cli("--raw", "eval", read, "0", `e2e-${process.pid}:c:*bytes/*tenant-bytes@*`).trim() !== "1500") {
      if (Date.now() > deadline) assert.fail("the streamed bytes did not reach Redis within 5 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    const refused = await call(`${gateways[1]!.url}/bandwidth/small`, "tenant-bytes");
    assert.equal(refused.status, 403);
    assert.match(refused.body, /Out of bandwidth quota/);
  });

  it("keeps a quota across a restart of every gateway", { timeout: 60_000 }, async () => {
    for (let i = 0; i < 3; i++) assert.equal((await call(`${gateways[i]!.url}/quota/q`, "tenant-quota")).status, 200);
    await Promise.all(gateways.map((gw) => gw.stop()));
    gateways = await start();
    await redisState(gateways, "up");
    assert.equal((await call(`${gateways[2]!.url}/quota/q`, "tenant-quota")).status, 200);
    const refused = await call(`${gateways[0]!.url}/quota/q`, "tenant-quota");
    assert.equal(refused.status, 403);
    assert.match(refused.body, /quota-exceeded/);
    // The period is anchored to the epoch: it renews at the next UTC midnight, on every replica alike.
    const untilMidnight = Math.ceil((86_400_000 - (Date.now() % 86_400_000)) / 1000);
    assert.ok(
      Math.abs(Number(refused.headers.get("retry-after")) - untilMidnight) <= 2,
      `Retry-After ${refused.headers.get("retry-after")} vs ${untilMidnight}`,
    );
  });

  it("with Redis stopped mid-load: open counts in-process, closed answers 503, both within the timeout; shared counting resumes once it is back", {
    timeout: 60_000,
  }, async () => {
    const url = (i: number, api: string) => `${gateways[i % 3]!.url}/${api}/r`;
    for (let i = 0; i < 6; i++) {
      assert.equal((await call(url(i, "open"), "tenant-outage")).status, 200);
      assert.equal((await call(url(i, "closed"), "tenant-outage")).status, 200);
    }
    // A gateway that found Redis slow at its start (a loaded machine) logged that outage already: count from here.
    const logged = gateways.map((gw) => gw.output().length);
    await redis.stop();
    // Calls made while the gateways notice (a refused connection, or the 50 ms timeout) and after.
    const during: Answer[][] = [];
    for (let i = 0; i < 30; i++) during.push(await Promise.all([call(url(i, "open"), "tenant-outage"), call(url(i, "closed"), "tenant-outage")]));
    await redisState(gateways, "degraded");
    for (const [open, closed] of during) {
      assert.equal(open!.status, 200, open!.body);
      assert.equal(closed!.status, 503, closed!.body);
      // cache.redis.timeout at most, plus the gateway and the loopback (generous on a loaded machine).
      assert.ok(open!.ms < TIMEOUT_MS + 400 && closed!.ms < TIMEOUT_MS + 400, `${open!.ms} ms, ${closed!.ms} ms`);
    }
    const problem = JSON.parse(during.at(-1)![1]!.body) as Record<string, unknown>;
    assert.equal(problem.type, "urn:portico:problem:shared-state-unavailable");
    assert.equal(problem.status, 503);
    assert.equal(during.at(-1)![1]!.headers.get("content-type"), "application/problem+json");
    for (const [i, gw] of gateways.entries()) {
      const metrics = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
      assert.match(metrics, /^portico_redis_up 0$/m);
      assert.match(metrics, /^portico_redis_fallbacks_total [1-9]/m);
      assert.match(metrics, /^portico_redis_refused_total [1-9]/m);
      // Logged once per outage, without the password.
      assert.equal(gw.output().slice(logged[i]).match(/Redis is unavailable/g)?.length, 1, gw.output());
      assert.ok(!gw.output().includes(PASSWORD));
    }

    await redis.start();
    await redisState(gateways, "up");
    for (const gw of gateways) await gw.waitForOutput(/Redis answers again/);
    // Redis came back empty (no persistence): the shared count starts again, and it is shared.
    const answers = await Promise.all([0, 1, 2, 3, 4, 5, 6].map((i) => call(url(i, "closed"), "tenant-back")));
    assert.ok(answers.every((a) => a.status === 200));
    // The one counter of that key in Redis holds the 7 calls made through the three gateways.
    const read = "local k = redis.call('KEYS', ARGV[1]) if #k ~= 1 then return -#k end return redis.call('GET', k[1])";
    assert.equal(redis.cli("--raw", "eval", read, "0", `e2e-${process.pid}:c:*tenant-back`).trim(), "7");
  });
});
