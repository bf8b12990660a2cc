import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

/** Subscription keys of the test (at least 16 characters, as the configuration requires). */
const KEYS = { ann: "ann-gold-key-000001", bob: "bob-gold-key-000002", cid: "cid-silver-key-0003" } as const;

// cache-lookup's attributes beyond the key's basics, in a real gateway process against a real
// backend that counts its calls: per subscription and per product, Authorization, and the
// Cache-Control the client is given.
describe("cache-lookup's developer, private and downstream attributes in a real gateway", () => {
  let backend: Upstream;
  let gw: GatewayProcess;
  const calls = new Map<string, number>();
  const called = (url: string) => calls.get(url) ?? 0;

  before(async () => {
    backend = await startUpstream((req, res) => {
      const n = (calls.get(req.url!) ?? 0) + 1;
      calls.set(req.url!, n);
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(`call ${n} of ${req.url}`);
      });
    });
    const api = (name: string, lookup: string) => `
  - name: ${name}
    path: /${name}
    backend: ${name}
    subscriptionRequired: ${name.startsWith("dev") ? "true" : "false"}
    policies:
      inbound: [ { policy: cache-lookup, with: { ${lookup} } } ]
      outbound: [ { policy: cache-store, with: { duration: 60 } } ]`;
    const names = ["dev", "devgroups", "shared", "private", "public", "auth"];
    gw = await startGatewayProcess({
      config: `
apis:${api("dev", "vary-by-developer: true, vary-by-developer-groups: false")}${api("devgroups", "vary-by-developer: false, vary-by-developer-groups: true")}${
        api("shared", "vary-by-developer: false, vary-by-developer-groups: false")
      }${api("private", "vary-by-developer: false, vary-by-developer-groups: false, downstream-caching-type: private")}${
        api("public", "vary-by-developer: false, vary-by-developer-groups: false, downstream-caching-type: public, must-revalidate: false")
      }${api("auth", "vary-by-developer: false, vary-by-developer-groups: false, allow-private-response-caching: true, vary-by-header: [Authorization]")}
products:
  - { name: gold, apis: [dev, devgroups] }
  - { name: silver, apis: [dev, devgroups] }
subscriptions:
  - { name: ann, scope: "product:gold", primaryKey: ${KEYS.ann} }
  - { name: bob, scope: "product:gold", primaryKey: ${KEYS.bob} }
  - { name: cid, scope: "product:silver", primaryKey: ${KEYS.cid} }
# Each API's backend has its own base path, so the backend counts calls per API.
backends:
${names.map((n) => `  ${n}: { urls: ["${backend.url}/${n}"] }`).join("\n")}
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await backend?.close();
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${gw.url}${path}`, { headers });
    return { status: res.status, headers: res.headers, body: await res.text() };
  };
  const as = (key: string) => ({ "ocp-apim-subscription-key": key });

  it("vary-by-developer keeps one entry per subscription", async () => {
    const ann = await get("/dev/x", as(KEYS.ann));
    const bob = await get("/dev/x", as(KEYS.bob));
    const annAgain = await get("/dev/x", as(KEYS.ann));
    assert.equal(ann.status, 200);
    assert.equal(ann.body, "call 1 of /dev/x");
    assert.equal(bob.body, "call 2 of /dev/x", "another subscription misses");
    assert.equal(annAgain.body, "call 1 of /dev/x");
    assert.equal(called("/dev/x"), 2);
  });

  it("vary-by-developer-groups keeps one entry per product, shared by its subscriptions", async () => {
    const ann = await get("/devgroups/x", as(KEYS.ann));
    const bob = await get("/devgroups/x", as(KEYS.bob));
    const cid = await get("/devgroups/x", as(KEYS.cid));
    assert.equal(ann.body, "call 1 of /devgroups/x");
    assert.equal(bob.body, "call 1 of /devgroups/x", "the same product: a hit");
    assert.equal(cid.body, "call 2 of /devgroups/x", "another product misses");
  });

  it("does not look up or store a request with Authorization unless allow-private-response-caching", async () => {
    const bearer = { authorization: "Bearer token-a" };
    assert.equal((await get("/shared/secret", bearer)).body, "call 1 of /shared/secret");
    assert.equal((await get("/shared/secret", bearer)).body, "call 2 of /shared/secret");
    assert.equal((await get("/shared/secret")).body, "call 3 of /shared/secret", "nothing was stored for the requests with Authorization");
    assert.equal((await get("/shared/secret")).body, "call 3 of /shared/secret");
    // Allowed, and keyed by the header as APIM advises: each token its own entry.
    assert.equal((await get("/auth/secret", bearer)).body, "call 1 of /auth/secret");
    assert.equal((await get("/auth/secret", bearer)).body, "call 1 of /auth/secret");
    assert.equal((await get("/auth/secret", { authorization: "Bearer token-b" })).body, "call 2 of /auth/secret");
  });

  it("tells the client how it may cache: none, private or public, with must-revalidate unless it is false", async () => {
    const none = await get("/shared/cc");
    assert.equal(none.headers.get("cache-control"), "no-store");
    const privately = [await get("/private/cc"), await get("/private/cc")];
    for (const res of privately) assert.match(res.headers.get("cache-control") ?? "", /^private, max-age=(59|60), must-revalidate$/);
    const publicly = [await get("/public/cc"), await get("/public/cc")];
    for (const res of publicly) assert.match(res.headers.get("cache-control") ?? "", /^public, max-age=(59|60)$/);
    assert.equal(called("/private/cc"), 1);
    assert.equal(called("/public/cc"), 1);
  });
});

describe("caching-type: external without an external store", () => {
  it("stops the gateway at start with the policy and what to configure", async () => {
    const gw = await startGatewayProcess({
      ready: false,
      config: `
apis:
  - name: a
    path: /a
    backend: b
    policies:
      inbound: [ { policy: cache-lookup, with: { vary-by-developer: false, vary-by-developer-groups: false, caching-type: external } } ]
backends:
  b: { urls: ["http://127.0.0.1:9"] }
`,
    });
    const code = await gw.exited();
    assert.notEqual(code, 0);
    assert.match(
      gw.output(),
      /api "a": policy "cache-lookup" has caching-type: external, but this gateway has no external cache configured \(cache\.redis\.url\)/,
    );
  });
});
