import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mustBuild, snapshotFromValue } from "../../config/snapshot/build.ts";
import { BackendPool } from "./backend.ts";

/** A pool from a backend as a configuration file would give it (built, so defaults and durations apply). */
function pool(backend: Record<string, unknown>, name = "orders"): BackendPool {
  return new BackendPool(mustBuild(snapshotFromValue({ backends: { [name]: backend } })).backends.get(name)!);
}

describe("BackendPool.target", () => {
  it("puts the backend URL's path in front of the rest of the path and the query (the contract's example)", () => {
    const p = pool({ urls: ["http://127.0.0.1:9000/v2"] });
    assert.equal(p.target("/42", "?x=1"), "http://127.0.0.1:9000/v2/42?x=1");
  });

  it("reads a base path with or without trailing slashes the same way", () => {
    for (const url of ["http://127.0.0.1:9000/v2", "http://127.0.0.1:9000/v2/", "http://127.0.0.1:9000/v2//"]) {
      const p = pool({ urls: [url] });
      assert.equal(p.target("/42", ""), "http://127.0.0.1:9000/v2/42", url);
      assert.equal(p.target("", ""), "http://127.0.0.1:9000/v2", url);
    }
  });

  it("sends an empty rest as the base path itself, or / when the URL has no path", () => {
    assert.equal(pool({ urls: ["http://127.0.0.1:9000/v2"] }).target("", "?a=1"), "http://127.0.0.1:9000/v2?a=1");
    assert.equal(pool({ urls: ["http://127.0.0.1:9000"] }).target("", ""), "http://127.0.0.1:9000/");
    assert.equal(pool({ urls: ["http://127.0.0.1:9000/"] }).target("", "?a=1"), "http://127.0.0.1:9000/?a=1");
  });

  it("keeps a rest of / as a trailing slash", () => {
    assert.equal(pool({ urls: ["http://127.0.0.1:9000/v2"] }).target("/", ""), "http://127.0.0.1:9000/v2/");
    assert.equal(pool({ urls: ["http://127.0.0.1:9000"] }).target("/", ""), "http://127.0.0.1:9000/");
  });

  it("forwards the rest and the query byte for byte", () => {
    const p = pool({ urls: ["http://127.0.0.1:9000/v2"] });
    assert.equal(p.target("//a%2Fb/%7e/c%20d/", "?q=a%20b&x=%2e%2e&y=/./z&z"), "http://127.0.0.1:9000/v2//a%2Fb/%7e/c%20d/?q=a%20b&x=%2e%2e&y=/./z&z");
  });

  it("uses the canonical origin of the URL", () => {
    assert.equal(pool({ urls: ["HTTP://Backend.Internal:80/Api"] }).target("/x", ""), "http://backend.internal/Api/x");
    assert.equal(pool({ urls: ["https://backend.internal:443"] }).target("/x", ""), "https://backend.internal/x");
    assert.equal(pool({ urls: ["https://[::1]:8443/v1"] }).target("/x", ""), "https://[::1]:8443/v1/x");
  });

  it("takes the URLs of a pool in turn, each with its own base path", () => {
    const p = pool({ urls: ["http://10.0.0.1:9000/a", "http://10.0.0.2:9000", "https://10.0.0.3/c/"] });
    const seen = Array.from({ length: 7 }, () => p.target("/x", "?n=1"));
    assert.deepEqual(seen, [
      "http://10.0.0.1:9000/a/x?n=1",
      "http://10.0.0.2:9000/x?n=1",
      "https://10.0.0.3/c/x?n=1",
      "http://10.0.0.1:9000/a/x?n=1",
      "http://10.0.0.2:9000/x?n=1",
      "https://10.0.0.3/c/x?n=1",
      "http://10.0.0.1:9000/a/x?n=1",
    ]);
  });

  it("keeps rotating when the rest is empty", () => {
    const p = pool({ urls: ["http://10.0.0.1/v2", "http://10.0.0.2"] });
    assert.deepEqual([p.target("", ""), p.target("", ""), p.target("", "")], ["http://10.0.0.1/v2", "http://10.0.0.2/", "http://10.0.0.1/v2"]);
  });

  it("always uses the one URL of a single-URL backend", () => {
    const p = pool({ urls: ["http://10.0.0.1:9000"] });
    for (let i = 0; i < 5; i++) assert.equal(p.target("/x", ""), "http://10.0.0.1:9000/x");
  });
});

describe("BackendPool", () => {
  it("keeps its name and its timeout in milliseconds", () => {
    const p = pool({ urls: ["http://127.0.0.1:9000"], timeout: "2m" }, "billing");
    assert.equal(p.name, "billing");
    assert.equal(p.timeoutMs, 120_000);
  });

  it("waits 30 seconds by default", () => {
    assert.equal(pool({ urls: ["http://127.0.0.1:9000"] }).timeoutMs, 30_000);
  });
});

describe("BackendPool.observe (passive ejection)", () => {
  it("ejects the member a failing URL was made from, by its longest base, and routes around it", () => {
    const p = pool({ urls: ["http://10.0.0.1/v", "http://10.0.0.1/v2", "http://10.0.0.3"], passive: { "consecutive-failures": 2, ejection: "1m" } });
    // "http://10.0.0.1/v2/x" starts with the base "http://10.0.0.1/v" too: it must count against /v2.
    p.observe("http://10.0.0.1/v2/x", 502);
    p.observe("http://10.0.0.1/v2?q=1", undefined);
    const seen = new Set(Array.from({ length: 6 }, () => p.target("/x", "")));
    assert.deepEqual([...seen].sort(), ["http://10.0.0.1/v/x", "http://10.0.0.3/x"]);
    assert.equal(p.origin("http://10.0.0.3/x").host, "10.0.0.3");
  });

  it("does nothing with passive ejection turned off", () => {
    const p = pool({ urls: ["http://10.0.0.1", "http://10.0.0.2"], passive: false });
    for (let i = 0; i < 20; i++) p.observe("http://10.0.0.1/x", undefined);
    const seen = new Set(Array.from({ length: 4 }, () => p.target("/x", "")));
    assert.equal(seen.size, 2);
  });

  it("sends by weight and priority", () => {
    const p = pool({ urls: [{ url: "http://10.0.0.1", weight: 3 }, "http://10.0.0.2", { url: "http://10.0.0.9", priority: 1 }] });
    const seen = Array.from({ length: 8 }, () => p.target("", ""));
    assert.equal(seen.filter((u) => u === "http://10.0.0.1/").length, 6);
    assert.equal(seen.filter((u) => u === "http://10.0.0.2/").length, 2);
  });
});
