import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

/** The per-entry limit the gateway under test runs with (cache.entry.max-bytes). */
const ENTRY_LIMIT = 4096;

/** Answers each path as the test needs; every body names how many calls the backend had for that path. */
function answer(url: string, count: number, res: ServerResponse): void {
  const path = new URL(url, "http://x").pathname.replace(/^\/[a-z]+/, "");
  const body = `call ${count} of ${url}`;
  switch (path) {
    case "/no-store":
      res.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store" });
      return void res.end(body);
    case "/max-age-1":
      res.writeHead(200, { "content-type": "text/plain", "cache-control": "public, max-age=1" });
      return void res.end(body);
    case "/tagged":
      res.writeHead(200, { "content-type": "text/plain", etag: '"t1"', "last-modified": "Tue, 01 Dec 2026 10:00:00 GMT" });
      return void res.end(body);
    case "/missing":
      res.writeHead(404, { "content-type": "text/plain" });
      return void res.end(body);
    case "/big": {
      // Over the entry limit, with its length declared.
      const big = body.padEnd(ENTRY_LIMIT * 2, ".");
      res.writeHead(200, { "content-type": "text/plain", "content-length": String(big.length) });
      return void res.end(big);
    }
    case "/big-stream":
    case "/small-stream": {
      // Chunked, without a length: 8 chunks of 1 KiB (over the limit) or 2 small ones (within it).
      res.writeHead(200, { "content-type": "text/plain" });
      const chunks = path === "/big-stream" ? 8 : 2;
      const size = path === "/big-stream" ? 1024 : 16;
      res.write(body);
      let sent = 0;
      const next = () => {
        if (sent === chunks) return void res.end();
        sent += 1;
        res.write("x".repeat(size));
        setTimeout(next, 2);
      };
      return next();
    }
    default:
      res.writeHead(200, { "content-type": "text/plain", "x-backend": "yes" });
      res.end(body);
  }
}

// The response cache in a real gateway process (the runtime running this test) in front of a real
// backend that counts its calls: what is answered from the cache never reaches the backend.
describe("cache-lookup and cache-store in a real gateway", () => {
  let backend: Upstream;
  let gw: GatewayProcess;
  let config = "";
  const calls = new Map<string, number>();
  /** Calls the backend had for a path (query included). */
  const called = (url: string) => calls.get(url) ?? 0;

  before(async () => {
    backend = await startUpstream((req, res) => {
      const n = (calls.get(req.url!) ?? 0) + 1;
      calls.set(req.url!, n);
      req.resume();
      req.on("end", () => answer(req.url!, n, res));
    });
    const lookup = (extra: string) => `{ policy: cache-lookup, with: { vary-by-developer: false, vary-by-developer-groups: false${extra} } }`;
    config = `
apis:
  - name: c
    path: /c
    backend: c
    policies:
      inbound: [ ${lookup(", vary-by-header: [x-lang]")} ]
      outbound: [ { policy: cache-store, with: { duration: 60 } } ]
  - name: q
    path: /q
    backend: q
    policies:
      inbound: [ ${lookup(", vary-by-query-parameter: [a]")} ]
      outbound: [ { policy: cache-store, with: { duration: 60 } } ]
  - name: short
    path: /short
    backend: short
    policies:
      inbound: [ ${lookup("")} ]
      outbound: [ { policy: cache-store, with: { duration: 1 } } ]
# Each API's backend has its own base path, so the backend counts calls per API.
backends:
  c: { urls: ["${backend.url}/c"] }
  q: { urls: ["${backend.url}/q"] }
  short: { urls: ["${backend.url}/short"] }
`;
    gw = await startGatewayProcess({ env: { PORTICO_CACHE_ENTRY_MAX_BYTES: String(ENTRY_LIMIT) }, config });
  });

  after(async () => {
    await gw?.stop();
    await backend?.close();
  });

  const get = async (path: string, headers: Record<string, string> = {}, method = "GET") => {
    const res = await fetch(`${gw.url}${path}`, { method, headers });
    return { status: res.status, headers: res.headers, body: await res.text() };
  };

  it("answers a repeated GET from the cache: the backend is called once, the client gets the same response with Age", async () => {
    const first = await get("/c/item?x=1");
    assert.equal(first.status, 200);
    assert.equal(first.body, "call 1 of /c/item?x=1");
    assert.equal(first.headers.get("age"), null, "a miss comes from the backend");
    const second = await get("/c/item?x=1");
    assert.equal(second.status, 200);
    assert.equal(second.body, "call 1 of /c/item?x=1", "the cached body");
    assert.equal(second.headers.get("x-backend"), "yes", "the backend's headers are kept");
    assert.equal(second.headers.get("content-type"), "text/plain");
    assert.match(second.headers.get("age") ?? "", /^\d+$/, "a hit says how old it is");
    assert.equal(second.headers.get("cache-control"), "no-store", "downstream-caching-type none (the default)");
    assert.equal(called("/c/item?x=1"), 1);
    const metrics = await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`).then((r) => r.text());
    assert.match(metrics, /portico_cache_lookups_total\{result="hit",store="internal"\} [1-9]/);
    assert.match(metrics, /portico_cache_lookups_total\{result="miss",store="internal"\} [1-9]/);
    assert.match(metrics, /portico_cache_stores_total\{outcome="stored"\} [1-9]/);
  });

  it("answers a matching conditional GET on a hit with 304 and no body, without calling the backend", async () => {
    const first = await get("/c/tagged");
    assert.equal(first.status, 200);
    assert.equal(first.headers.get("etag"), '"t1"');
    const byTag = await get("/c/tagged", { "if-none-match": '"t0", "t1"' });
    assert.equal(byTag.status, 304);
    assert.equal(byTag.body, "");
    assert.equal(byTag.headers.get("etag"), '"t1"');
    assert.equal(byTag.headers.get("content-type"), null, "no body metadata on a 304");
    const byDate = await get("/c/tagged", { "if-modified-since": "Wed, 02 Dec 2026 00:00:00 GMT" });
    assert.equal(byDate.status, 304);
    const otherTag = await get("/c/tagged", { "if-none-match": '"t0"' });
    assert.equal(otherTag.status, 200);
    assert.equal(otherTag.body, "call 1 of /c/tagged", "a tag that does not match gets the cached body");
    assert.equal(called("/c/tagged"), 1);
  });

  it("keys by path and by the whole query string when no vary-by-query-parameter is given", async () => {
    await get("/c/other?x=1");
    await get("/c/other?x=2");
    await get("/c/other?x=2");
    assert.equal(called("/c/other?x=1"), 1);
    assert.equal(called("/c/other?x=2"), 1);
  });

  it("varies by the vary-by-header headers", async () => {
    const en = await get("/c/lang", { "x-lang": "en" });
    const fr = await get("/c/lang", { "x-lang": "fr" });
    const enAgain = await get("/c/lang", { "x-lang": "en" });
    const none = await get("/c/lang");
    assert.equal(en.body, "call 1 of /c/lang");
    assert.equal(fr.body, "call 2 of /c/lang", "another header value misses");
    assert.equal(enAgain.body, "call 1 of /c/lang", "the first value hits its own entry");
    assert.equal(none.body, "call 3 of /c/lang", "no header is a value of its own");
    assert.equal(called("/c/lang"), 3);
  });

  it("varies by the vary-by-query-parameter parameters only", async () => {
    const a1 = await get("/q/list?a=1&b=x");
    const a1b = await get("/q/list?a=1&b=y");
    const a2 = await get("/q/list?a=2&b=x");
    assert.equal(a1.body, "call 1 of /q/list?a=1&b=x");
    assert.equal(a1b.body, "call 1 of /q/list?a=1&b=x", "b is not part of the key: a hit");
    assert.equal(a2.body, "call 1 of /q/list?a=2&b=x", "another a misses");
    assert.equal(called("/q/list?a=1&b=y"), 0);
  });

  it("expires entries after duration, and after the backend's shorter max-age", async () => {
    await get("/short/item");
    assert.equal((await get("/short/item")).body, "call 1 of /short/item");
    await get("/c/max-age-1");
    assert.equal((await get("/c/max-age-1")).body, "call 1 of /c/max-age-1", "stored, for max-age=1 rather than 60 s");
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    assert.equal((await get("/short/item")).body, "call 2 of /short/item", "expired after duration: 1");
    assert.equal((await get("/c/max-age-1")).body, "call 2 of /c/max-age-1", "expired after the backend's max-age=1");
  });

  it("does not store a response the backend marks no-store, nor one that is not 200", async () => {
    for (let i = 1; i <= 2; i++) {
      const res = await get("/c/no-store");
      assert.equal(res.body, `call ${i} of /c/no-store`);
      assert.equal(res.headers.get("cache-control"), "no-store");
    }
    await get("/c/missing");
    assert.equal((await get("/c/missing")).status, 404);
    assert.equal(called("/c/missing"), 2);
  });

  it("passes a response over the entry limit through whole and does not store it, with or without a length", async () => {
    for (const path of ["/c/big", "/c/big-stream"]) {
      const first = await get(path);
      const second = await get(path);
      assert.ok(first.body.startsWith(`call 1 of ${path}`), path);
      assert.ok(second.body.startsWith(`call 2 of ${path}`), `${path} was not stored`);
      assert.ok(second.body.length > ENTRY_LIMIT, `${path} arrived whole (${second.body.length} bytes)`);
    }
    assert.equal((await get("/c/big-stream")).body.length, "call 3 of /c/big-stream".length + 8 * 1024);
    // A streamed body within the limit is stored as it passes.
    const small = await get("/c/small-stream");
    assert.equal(small.body, `call 1 of /c/small-stream${"x".repeat(32)}`);
    assert.equal((await get("/c/small-stream")).body, small.body);
    assert.equal(called("/c/small-stream"), 1);
  });

  it("does not cache POST requests", async () => {
    await get("/c/post", {}, "POST");
    await get("/c/post", {}, "POST");
    assert.equal(called("/c/post"), 2);
  });

  it("keeps its entries across a configuration reload", async () => {
    assert.equal((await get("/c/kept")).body, "call 1 of /c/kept");
    writeFileSync(gw.configFile, config.replace("apis:\n", "apis:\n  - { name: added, path: /added, backend: c }\n"));
    const started = Date.now();
    while ((await fetch(`${gw.url}/added/ping`).then(async (r) => (await r.body?.cancel(), r.status))) !== 200) {
      assert.ok(Date.now() - started < 10_000, "the new configuration went live");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal((await get("/c/kept")).body, "call 1 of /c/kept", "a hit after the reload");
    assert.equal(called("/c/kept"), 1);
  });
});
