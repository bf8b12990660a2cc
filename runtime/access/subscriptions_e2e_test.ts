import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess, tempDir } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

/** Keys of the test's subscriptions: each at least 16 characters, as the configuration requires. */
const KEYS = {
  alicePrimary: "alice-primary-key-0001",
  aliceSecondary: "alice-secondary-key-0002",
  bob: "bob-all-apis-key-0003",
  carol: "carol-api-other-key-0004",
  dave: "dave-suspended-key-0005",
  erin: "erin-cancelled-key-0006",
  frank: "frank-expired-key-0007",
  gina: "gina-unpublished-key-0008",
  henry: "henry-from-env-key-0009",
  ivan: "ivan-from-file-key-0010",
  wrong: "not-a-key-of-anyone-0011",
} as const;

const TYPE = "urn:portico:problem:";

describe("subscription keys and products", { timeout: 120_000 }, () => {
  let upstream: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    upstream = await startUpstream();
    const dir = tempDir();
    const keyFile = join(dir, "ivan.key");
    writeFileSync(keyFile, `${KEYS.ivan}\n`);
    const trail = (value: string) => `{ policy: set-header, with: { name: x-trail, value: ${value}, exists-action: append } }`;
    const mark = (name: string, value: string) => `{ policy: set-header, with: { name: ${name}, value: ${value} } }`;
    gw = await startGatewayProcess({
      env: { HENRY_KEY: KEYS.henry },
      config: `
global:
  policies: { inbound: [ ${trail("global")} ] }
apis:
  - name: orders
    path: /orders
    backend: up
    subscriptionRequired: true
    policies: { inbound: [ ${trail("api")} ] }
    operations:
      - { name: list, method: GET, url: /, policies: { inbound: [ base, ${trail("operation")} ] } }
      - { name: one, method: GET, url: "/{id}" }
  - { name: catalog, path: /catalog, backend: up, subscriptionRequired: true }
  - { name: other, path: /other, backend: up, subscriptionRequired: true }
  - { name: custom, path: /custom, backend: up, subscriptionRequired: true, subscriptionKey: { header: x-api-key, query: key } }
  - { name: open, path: /open, backend: up, subscriptionRequired: true }
  - { name: public, path: /public, backend: up }
products:
  - name: gold
    apis: [orders, catalog, custom]
    policies: { inbound: [ ${trail("product")}, ${mark("x-product-policy", "gold")} ] }
  - { name: free, apis: [open], subscriptionRequired: false, policies: { inbound: [ ${mark("x-product-policy", "free")} ] } }
  - { name: draft, apis: [orders], state: notPublished }
subscriptions:
  - { name: alice, scope: "product:gold", primaryKey: ${KEYS.alicePrimary}, secondaryKey: ${KEYS.aliceSecondary} }
  - { name: bob, scope: all-apis, primaryKey: ${KEYS.bob} }
  - { name: carol, scope: "api:other", primaryKey: ${KEYS.carol} }
  - { name: dave, scope: all-apis, state: suspended, primaryKey: ${KEYS.dave} }
  - { name: erin, scope: all-apis, state: cancelled, primaryKey: ${KEYS.erin} }
  - { name: frank, scope: all-apis, expires: "2020-01-01T00:00:00Z", primaryKey: ${KEYS.frank} }
  - { name: gina, scope: "product:draft", primaryKey: ${KEYS.gina} }
  - { name: henry, scope: all-apis, primaryKey: { env: HENRY_KEY } }
  - { name: ivan, scope: "api:catalog", primaryKey: { file: ${JSON.stringify(keyFile)} } }
backends:
  up: { urls: ["${upstream.url}"] }
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  /** Calls the gateway; returns the status, the problem or echo body, and what the backend saw. */
  async function call(path: string, headers: Record<string, string> = {}) {
    const before = upstream.seen.length;
    const res = await fetch(gw.url + path, { headers });
    const body = await res.json() as Record<string, unknown>;
    return { status: res.status, body, headers: res.headers, backend: upstream.seen.length > before ? upstream.seen.at(-1) : undefined };
  }

  async function refused(path: string, headers: Record<string, string>, status: number, kind: string) {
    const res = await call(path, headers);
    assert.equal(res.status, status, `${path} ${JSON.stringify(res.body)}`);
    assert.equal(res.body.type, TYPE + kind);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    assert.equal(res.backend, undefined, "the backend is not called");
    return res;
  }

  it("refuses a call without a key where the API requires one: 401 with APIM's wording", async () => {
    const res = await refused("/orders/1", {}, 401, "subscription-key-missing");
    assert.match(String(res.body.title), /^Access denied due to missing subscription key/);
  });

  it("accepts a key in the header and does not forward it", async () => {
    const res = await call("/orders/1", { "ocp-apim-subscription-key": KEYS.alicePrimary });
    assert.equal(res.status, 200);
    assert.equal(res.backend!.headers["ocp-apim-subscription-key"], undefined);
    assert.ok(!JSON.stringify(res.backend!.rawHeaders).includes(KEYS.alicePrimary));
  });

  it("accepts a key in the query and removes only that parameter, keeping the rest byte for byte", async () => {
    const res = await call(`/orders/1?a=1&subscription-key=${KEYS.aliceSecondary}&b=%2F+x`);
    assert.equal(res.status, 200);
    assert.equal(res.backend!.url, "/1?a=1&b=%2F+x");
    const alone = await call(`/orders/1?subscription-key=${KEYS.aliceSecondary}`);
    assert.equal(alone.status, 200);
    assert.equal(alone.backend!.url, "/1");
  });

  it("reads the key from the header and query parameter the API names", async () => {
    assert.equal((await call("/custom/x", { "x-api-key": KEYS.alicePrimary })).status, 200);
    const res = await call(`/custom/x?key=${KEYS.alicePrimary}&keep=1`);
    assert.equal(res.status, 200);
    assert.equal(res.backend!.url, "/x?keep=1");
    await refused("/custom/x", { "ocp-apim-subscription-key": KEYS.alicePrimary }, 401, "subscription-key-missing");
  });

  it("refuses an unknown key and a key of another scope with 401", async () => {
    const res = await refused("/orders/1", { "ocp-apim-subscription-key": KEYS.wrong }, 401, "subscription-key-invalid");
    assert.match(String(res.body.title), /^Access denied due to invalid subscription key/);
    await refused("/orders/1", { "ocp-apim-subscription-key": KEYS.carol }, 401, "subscription-key-invalid");
    await refused("/other/1", { "ocp-apim-subscription-key": KEYS.alicePrimary }, 401, "subscription-key-invalid");
    await refused("/orders/1", { "ocp-apim-subscription-key": KEYS.ivan }, 401, "subscription-key-invalid");
    assert.equal((await call("/other/1", { "ocp-apim-subscription-key": KEYS.carol })).status, 200);
  });

  it("refuses suspended, cancelled and expired subscriptions and unpublished products with 403, each with its own type", async () => {
    await refused("/orders/1", { "ocp-apim-subscription-key": KEYS.dave }, 403, "subscription-suspended");
    await refused("/orders/1", { "ocp-apim-subscription-key": KEYS.erin }, 403, "subscription-cancelled");
    await refused("/orders/1", { "ocp-apim-subscription-key": KEYS.frank }, 403, "subscription-expired");
    await refused("/orders/1", { "ocp-apim-subscription-key": KEYS.gina }, 403, "product-not-published");
  });

  it("reads keys from an environment variable and from a file", async () => {
    assert.equal((await call("/catalog/x", { "ocp-apim-subscription-key": KEYS.henry })).status, 200);
    assert.equal((await call("/catalog/x", { "ocp-apim-subscription-key": KEYS.ivan })).status, 200);
  });

  it("runs policies in APIM's order through the subscription's product: global, product, API, operation", async () => {
    const gold = await call("/orders/", { "ocp-apim-subscription-key": KEYS.alicePrimary });
    assert.equal(gold.backend!.headers["x-trail"], "global, product, api, operation");
    assert.equal(gold.backend!.headers["x-product-policy"], "gold");
    const gold2 = await call("/orders/7", { "ocp-apim-subscription-key": KEYS.alicePrimary });
    assert.equal(gold2.backend!.headers["x-trail"], "global, product, api");
    // An all-apis subscription calls the same API without a product: no product policies.
    const bob = await call("/orders/", { "ocp-apim-subscription-key": KEYS.bob });
    assert.equal(bob.backend!.headers["x-trail"], "global, api, operation");
    assert.equal(bob.backend!.headers["x-product-policy"], undefined);
  });

  it("lets calls without a key into an API of an open product, through that product's policies", async () => {
    const res = await call("/open/x");
    assert.equal(res.status, 200);
    assert.equal(res.backend!.headers["x-product-policy"], "free");
  });

  it("lets calls without a key into an API that does not require one, but refuses a wrong key there", async () => {
    assert.equal((await call("/public/x")).status, 200);
    await refused("/public/x", { "ocp-apim-subscription-key": KEYS.wrong }, 401, "subscription-key-invalid");
    const bob = await call("/public/x", { "ocp-apim-subscription-key": KEYS.bob });
    assert.equal(bob.status, 200);
    assert.equal(bob.backend!.headers["ocp-apim-subscription-key"], undefined);
  });

  it("never writes a key to its log", async () => {
    await call(`/orders/1?subscription-key=${KEYS.alicePrimary}`);
    await call(`/orders/1?subscription-key=${KEYS.wrong}`);
    // Access lines are written in batches (at most 20 ms late): the second call's line shows the log is on.
    await gw.waitForOutput(/"status":401/, 5_000);
    const output = gw.output();
    for (const key of Object.values(KEYS)) assert.ok(!output.includes(key), `the log holds no key (${key.slice(0, 5)}…)`);
  });
});
