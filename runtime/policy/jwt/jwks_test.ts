import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, it } from "node:test";
import { type FetchFailure, RemoteKeys } from "./jwks.ts";

const rsaJwk = (kid: string) => ({ ...generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" }), kid });

/** A key endpoint answering what `answer()` says, counting calls; a clock the test moves. */
function setup(answer: () => Response | Promise<Response>) {
  let now = 0;
  const failures: FetchFailure[] = [];
  const calls: string[] = [];
  const keys = new RemoteKeys(
    { kind: "jwks", url: "http://keys.test/jwks", refreshMs: 60_000, cooldownMs: 1_000, policy: "validate-jwt", clock: () => now },
    { fetch: (url) => (calls.push(url), Promise.resolve(answer())), fetchFailed: (reason) => failures.push(reason) },
  );
  return { keys, calls, failures, advance: (ms: number) => (now += ms) };
}

const json = (value: unknown) => new Response(JSON.stringify(value), { headers: { "content-type": "application/json" } });

describe("remote signing keys", () => {
  it("fetches at most once per cooldown, joining a fetch in flight", async () => {
    const k1 = rsaJwk("k1");
    const { keys, calls, advance } = setup(() => json({ keys: [k1] }));
    keys.start();
    assert.equal(await keys.refetch(), true, "joins the first fetch");
    assert.equal(calls.length, 1);
    assert.ok(keys.keys?.hasKid("k1"));
    assert.equal(await keys.refetch(), false, "within the cooldown");
    assert.equal(calls.length, 1);
    advance(1_000);
    const both = await Promise.all([keys.refetch(), keys.refetch(), keys.refetch()]);
    assert.deepEqual(both, [true, true, true]);
    assert.equal(calls.length, 2, "three unknown kids at once: one fetch");
    assert.equal(keys.generation, 1, "same keys: same generation");
  });

  it("refreshes stale keys in the background and keeps the last good ones when a refresh fails", async () => {
    let answer: () => Response = () => json({ keys: [rsaJwk("k1")] });
    const { keys, calls, failures, advance } = setup(() => answer());
    keys.start();
    await keys.refetch();
    answer = () => new Response("<html>", { status: 200 });
    advance(60_000);
    assert.ok(keys.keys?.hasKid("k1"), "stale keys still serve while the refresh runs");
    assert.equal(calls.length, 2);
    await keys.refetch();
    assert.deepEqual(failures, ["invalid"]);
    assert.ok(keys.keys?.hasKid("k1"));
  });

  it("yields no keys from an endpoint that is down, answers an error, or serves only symmetric or unusable keys", async () => {
    const cases: [() => Response | Promise<Response>, FetchFailure][] = [
      [() => Promise.reject(new TypeError("connection refused")), "unreachable"],
      [() => new Response("nope", { status: 503 }), "status"],
      [() => json({ keys: [{ kty: "oct", k: Buffer.alloc(32).toString("base64url") }, { kty: "RSA", n: "AQAB", e: "AQAB" }] }), "invalid"],
      [() => json([1, 2, 3]), "invalid"],
    ];
    for (const [answer, reason] of cases) {
      const { keys, failures } = setup(answer);
      keys.start();
      await keys.refetch();
      assert.equal(keys.keys, undefined, reason);
      assert.deepEqual(failures, [reason]);
    }
  });
});
