import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { resolveSettings, type Settings } from "../../config/schema/settings.ts";
import { createLogger } from "../observability/log.ts";
import { type RedisServer, startRedisSentinel, startRedisServer } from "../../test/redis-server.ts";
import { tempDir } from "../../test/harness.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { RedisConnection, redisOptions, RedisUnavailable } from "./redis.ts";
import { redisKV } from "./redis-kv.ts";
import { SharedCounters } from "./shared-counters.ts";

// The Redis connection, the KV store and the shared counters against a real redis-server on
// loopback (with a password): what they store and answer, and what happens while Redis is away.

const PASSWORD = "t0p-s3cret-redis";

function settingsOf(values: Record<string, string>): Settings {
  const result = resolveSettings(values, {});
  if (!result.ok) assert.fail(JSON.stringify(result.problems));
  return result.settings;
}

/** Script runs (EVALSHA and EVAL) the server has counted, from `INFO commandstats`. */
function scriptRuns(info: string): number {
  let runs = 0;
  for (const match of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) runs += Number(match[2]);
  return runs;
}

/** Waits until `check` holds, polling every 20 ms, or fails after `ms`. */
async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("Redis connection, KV and shared counters against a real redis-server", { timeout: 60_000 }, () => {
  let server: RedisServer;
  let redis: RedisConnection;
  const lines: string[] = [];

  before(async () => {
    server = await startRedisServer({ password: PASSWORD });
    const options = redisOptions(settingsOf({ "cache.redis.url": `redis://:${PASSWORD}@127.0.0.1:${server.port}`, "cache.redis.key-prefix": "t1:" }))!;
    redis = RedisConnection.open(options, createLogger("json", (line) => lines.push(line)));
    await until("Redis up", () => redis.up);
  });

  after(async () => {
    await redis?.close();
    await server?.stop();
  });

  it("stores, reads, expires and deletes bytes through the KV interface, under the prefix", async () => {
    const kv = redisKV(redis);
    assert.equal(kv.kind, "external");
    const value = new Uint8Array([0, 1, 2, 255, 128]);
    await kv.set("k1", value, 60_000);
    assert.deepEqual(await kv.get("k1"), value);
    assert.match(server.cli("--raw", "exists", "t1:kv:k1"), /^1/);
    await kv.set("short", new Uint8Array([7]), 50);
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(await kv.get("short"), undefined);
    await kv.delete("k1");
    assert.equal(await kv.get("k1"), undefined);
    await kv.set("gone", value, 60_000);
    await kv.set("gone", value, 0);
    assert.equal(await kv.get("gone"), undefined);
  });

  it("adds to counters atomically up to their limit, with the time left in the window", async () => {
    const counters = await SharedCounters.create(redis);
    const now = Date.now();
    const call = { key: "rl\u0000a", windowMs: 60_000, delta: 1, limit: 3 };
    const answers = await Promise.all(Array.from({ length: 5 }, () => counters.apply([call], false, now)));
    const accepted = answers.filter(([r]) => r!.accepted).length;
    assert.equal(accepted, 3);
    const refused = answers.find(([r]) => !r!.accepted)![0]!;
    assert.equal(refused.count, 3);
    assert.ok(refused.resetMs > 59_000 && refused.resetMs <= 60_000, String(refused.resetMs));
    // Two counters in one call: each answered in order.
    const [first, second] = await counters.apply([{ ...call, key: "rl\u0000b" }, { ...call, key: "rl\u0000a" }], false, now);
    assert.deepEqual([first!.accepted, first!.count, second!.accepted], [true, 1, false]);
  });

  it("sends the steps that requests in flight together ask of one counter as one script run, each answered as if it ran alone", async () => {
    const counters = await SharedCounters.create(redis);
    const now = Date.now();
    // Once first, so that the server holds the script (a first EVALSHA is answered NOSCRIPT and followed by an EVAL).
    await counters.apply([{ key: "burst-warm", windowMs: 60_000, delta: 1, limit: -1 }], false, now);
    const runsBefore = scriptRuns(server.cli("info", "commandstats"));
    // 40 requests in one turn: 30 may pass a limit of 30, in the order they asked; one with a larger
    // delta, one with no limit and one on another counter travel in the same turn.
    const call = { key: "burst-k", windowMs: 60_000, delta: 1, limit: 30 };
    const asked = Array.from({ length: 40 }, () => counters.apply([call], false, now));
    const big = counters.apply([{ ...call, delta: 5, limit: 100 }], false, now);
    const unlimited = counters.apply([{ ...call, limit: -1 }], false, now);
    const other = counters.apply([{ ...call, key: "burst-other" }], false, now);
    const answers = (await Promise.all(asked)).map(([r]) => r!);
    assert.deepEqual(answers.map((r) => r.accepted), [...Array(30).fill(true), ...Array(10).fill(false)]);
    assert.deepEqual(answers.slice(0, 30).map((r) => r.count), Array.from({ length: 30 }, (_, i) => i + 1));
    assert.ok(answers.slice(30).every((r) => r.count === 30), "a refused step reports the count it would have passed");
    assert.ok(answers.every((r) => r.resetMs > 59_000 && r.resetMs <= 60_000));
    const [bigger] = await big;
    assert.deepEqual([bigger!.accepted, bigger!.count], [true, 35]);
    assert.equal((await unlimited)[0]!.count, 36);
    assert.equal((await other)[0]!.count, 1);
    assert.match(server.cli("--raw", "get", "t1:c:burst-k"), /^36/);
    // One run for the hot counter and one for the other: 2, not 43.
    assert.equal(scriptRuns(server.cli("info", "commandstats")) - runsBefore, 2);
  });

  it("anchors quota periods to the epoch: the key names the period, and it ends at the period's end", async () => {
    const counters = await SharedCounters.create(redis);
    const hour = 3_600_000;
    const now = Date.now();
    const [r] = await counters.apply([{ key: "q-x", windowMs: hour, delta: 2, limit: 10 }], true, now);
    assert.equal(r!.count, 2);
    const left = hour - (now % hour);
    assert.ok(Math.abs(r!.resetMs - left) <= 5, `${r!.resetMs} vs ${left}`);
    const period = Math.floor(now / hour);
    assert.match(server.cli("--raw", "get", `t1:c:q-x@${period}`), /^2/);
  });

  it("takes the password from cache.redis.password-file over the URL's, and says why it cannot read a file", async () => {
    const file = join(tempDir(), "redis-password");
    writeFileSync(file, `${PASSWORD}\n`);
    const url = `redis://:wrong-password@127.0.0.1:${server.port}`;
    const other = RedisConnection.open(
      redisOptions(settingsOf({ "cache.redis.url": url, "cache.redis.password-file": file }))!,
      createLogger("none", () => {}),
    );
    try {
      await until("Redis up with the file's password", () => other.up);
      assert.equal(await other.call(undefined, ["PING"]), "PONG");
    } finally {
      await other.close();
    }
    assert.throws(
      () => redisOptions(settingsOf({ "cache.redis.url": url, "cache.redis.password-file": join(tempDir(), "missing") })),
      /^Error: cache\.redis\.password-file: cannot read .*missing: ENOENT$/,
    );
  });

  it("reaches the primary through a Sentinel (cache.redis.sentinel.*), with the nodes' password", async () => {
    const sentinel = await startRedisSentinel(server, "portico-primary", PASSWORD);
    const settings = settingsOf({
      "cache.redis.sentinel.master-name": "portico-primary",
      "cache.redis.sentinel.nodes": `127.0.0.1:${sentinel.port}`,
      "cache.redis.password": PASSWORD,
      "cache.redis.key-prefix": "t2:",
    });
    const through = RedisConnection.open(redisOptions(settings)!, createLogger("none", () => {}));
    try {
      await until("Redis up through the Sentinel", () => through.up);
      const counters = await SharedCounters.create(through);
      const [r] = await counters.apply([{ key: "sentinel-x", windowMs: 60_000, delta: 3, limit: 10 }], false, Date.now());
      assert.equal(r!.count, 3);
      // Written to the primary the Sentinel named: the server of this test.
      assert.match(server.cli("--raw", "get", "t2:c:sentinel-x"), /^3/);
    } finally {
      await through.close();
      await sentinel.stop();
    }
  });

  it("fails within the timeout while Redis is away, never logs the password, and recovers once it is back", async () => {
    const counters = await SharedCounters.create(redis);
    const call = { key: "down\u0000x", windowMs: 60_000, delta: 1, limit: 100 };
    await server.stop();
    await until("Redis marked down", () => !redis.up, 5_000);
    const started = performance.now();
    await assert.rejects(counters.apply([call], false, Date.now()), RedisUnavailable);
    assert.ok(performance.now() - started < 50, "a call while Redis is down fails at once");
    await server.start();
    await until("Redis up again", () => redis.up, 10_000);
    const [r] = await counters.apply([call], false, Date.now());
    assert.equal(r!.accepted, true);
    assert.ok(redis.outages >= 1);
    const log = lines.join("\n");
    assert.match(log, /Redis is unavailable/);
    assert.match(log, /Redis answers again/);
    assert.ok(!log.includes(PASSWORD), log);
  });
});
