import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

// `quota` and `quota-by-key` by calls and by bandwidth, and `rate-limit` and `quota` per
// subscription, in a real gateway process (the runtime running this test) against a real backend
// on loopback. Bandwidth is the bytes of request and response bodies, counted as they stream.

/** Subscription keys of the test (16 characters or more, as the configuration requires). */
const ALICE = "alice-limits-key-0001";
const BOB = "bob-limits-key-000002";

/** The size of the backend's streamed answer: 7 chunks of 100 bytes, without Content-Length. */
const STREAMED = 700;

describe("quotas by calls and bandwidth, and limits per subscription, in a real gateway", { timeout: 120_000 }, () => {
  let upstream: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      if (req.url!.includes("/stream")) {
        req.resume();
        // Chunked: no Content-Length, the pieces written apart in time.
        res.writeHead(200, { "content-type": "text/plain" });
        let sent = 0;
        const next = () => {
          if (sent === 7) return void res.end();
          sent++;
          res.write("x".repeat(100));
          setTimeout(next, 5);
        };
        next();
        return;
      }
      let received = 0;
      req.on("data", (chunk: Buffer) => received += chunk.length);
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/plain", "x-received": String(received) });
        res.end("ok");
      });
    });
    gw = await startGatewayProcess({
      config: `
apis:
  - name: calls
    path: /calls
    backend: b
    policies: { inbound: [ { policy: quota, with: { calls: 2, renewal-period: 3600 } } ] }
  - name: bandwidth
    path: /bandwidth
    backend: b
    policies: { inbound: [ { policy: quota, with: { bandwidth: 1, renewal-period: 3600 } } ] }
  - name: keyed
    path: /keyed
    backend: b
    policies:
      inbound: [ { policy: quota-by-key, with: { calls: 100, bandwidth: 1, renewal-period: 3600, counter-key: "{request.header.x-tenant}" } } ]
  - name: limited
    path: /limited
    backend: b
    subscriptionRequired: true
    policies: { inbound: [ { policy: rate-limit, with: { calls: 2, renewal-period: 60 } } ] }
  - name: metered
    path: /metered
    backend: b
    subscriptionRequired: true
    policies: { inbound: [ { policy: quota, with: { calls: 2, renewal-period: 3600 } } ] }
subscriptions:
  - { name: alice, scope: all-apis, primaryKey: "${ALICE}" }
  - { name: bob, scope: all-apis, primaryKey: "${BOB}" }
backends:
  b: { urls: ["${upstream.url}"] }
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${gw.url}${path}`, init);
    const body = await res.text();
    return { status: res.status, headers: res.headers, body };
  };

  /** Asserts a 403 quota problem with APIM's wording for `what`, and an hour-long Retry-After. */
  const assertQuotaRefusal = (res: Awaited<ReturnType<typeof call>>, what: "call volume" | "bandwidth") => {
    assert.equal(res.status, 403, res.body);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    const problem = JSON.parse(res.body);
    assert.equal(problem.type, "urn:portico:problem:quota-exceeded");
    assert.match(problem.detail, new RegExp(`^Out of ${what} quota\\. Quota will be replenished in 0\\d:\\d\\d:\\d\\d\\.$`));
    assert.ok(Number(res.headers.get("retry-after")) > 3500, `Retry-After ${res.headers.get("retry-after")}`);
  };

  it("quota by calls: 403 once the calls of the period are used; a refused call never reaches the backend", async () => {
    assert.equal((await call("/calls/a")).status, 200);
    assert.equal((await call("/calls/b")).status, 200);
    const before = upstream.seen.length;
    assertQuotaRefusal(await call("/calls/c"), "call volume");
    assert.equal(upstream.seen.length, before);
  });

  it("quota by bandwidth: a streamed answer without Content-Length counts; the call that crosses 1 KiB completes, the next is refused", async () => {
    const first = await call("/bandwidth/stream");
    assert.equal(first.status, 200);
    assert.equal(first.body.length, STREAMED);
    assert.equal(first.headers.get("content-length"), null, "the answer streamed without a length");
    const second = await call("/bandwidth/stream");
    assert.equal(second.status, 200, "700 bytes were under 1 KiB");
    assert.equal(second.body.length, STREAMED, "the call that crosses the quota is not cut off");
    assertQuotaRefusal(await call("/bandwidth/stream"), "bandwidth");
  });

  it("quota-by-key by bandwidth: request bodies count (with a length or streamed), and each key has its own bandwidth", async () => {
    const upload = (tenant: string, body: BodyInit) =>
      call("/keyed/upload", { method: "POST", headers: { "x-tenant": tenant }, body, duplex: "half" } as RequestInit);
    const sent = await upload("t1", "y".repeat(1500));
    assert.equal(sent.status, 200);
    assert.equal(sent.headers.get("x-received"), "1500");
    assertQuotaRefusal(await upload("t1", "z"), "bandwidth");
    assert.equal((await upload("t2", "z")).status, 200, "another key has its own bandwidth");
    // A streamed request body (chunked, no Content-Length) counts as it goes to the backend.
    const chunks = [400, 400, 300];
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const size = chunks.shift();
        if (size === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode("s".repeat(size)));
      },
    });
    const streamed = await upload("t3", stream);
    assert.equal(streamed.status, 200);
    assert.equal(streamed.headers.get("x-received"), "1100");
    assertQuotaRefusal(await upload("t3", "z"), "bandwidth");
    // And the streamed answer counts for quota-by-key too.
    assert.equal((await call("/keyed/stream", { headers: { "x-tenant": "t4" } })).status, 200);
    assert.equal((await call("/keyed/stream", { headers: { "x-tenant": "t4" } })).status, 200);
    assertQuotaRefusal(await call("/keyed/stream", { headers: { "x-tenant": "t4" } }), "bandwidth");
  });

  it("two subscriptions get independent rate limits and quotas", async () => {
    const as = (key: string) => ({ headers: { "ocp-apim-subscription-key": key } });
    assert.equal((await call("/limited/a", as(ALICE))).status, 200);
    assert.equal((await call("/limited/a", as(ALICE))).status, 200);
    const limited = await call("/limited/a", as(ALICE));
    assert.equal(limited.status, 429);
    assert.equal(JSON.parse(limited.body).type, "urn:portico:problem:rate-limited");
    assert.equal((await call("/limited/a", as(BOB))).status, 200, "bob's rate limit is his own");
    assert.equal((await call("/limited/a", as(BOB))).status, 200);
    assert.equal((await call("/limited/a", as(BOB))).status, 429);

    assert.equal((await call("/metered/a", as(BOB))).status, 200);
    assert.equal((await call("/metered/a", as(BOB))).status, 200);
    assertQuotaRefusal(await call("/metered/a", as(BOB)), "call volume");
    assert.equal((await call("/metered/a", as(ALICE))).status, 200, "alice's quota is her own");
    assert.equal((await call("/metered/a", as(ALICE))).status, 200);
    assertQuotaRefusal(await call("/metered/a", as(ALICE)), "call volume");
  });
});
