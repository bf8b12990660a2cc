import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { requestTarget } from "./request-target.ts";

/** What undici's own `request(url)` takes from a URL: WHATWG parse, pathname and search. */
function byUrl(url: string): { origin: string; path: string } {
  const parsed = new URL(url);
  return { origin: parsed.origin, path: parsed.search ? `${parsed.pathname}${parsed.search}` : parsed.pathname };
}

describe("requestTarget (a backend URL split for undici's dispatcher)", () => {
  it("gives what a WHATWG URL parse gives, for plain and for tricky URLs alike", () => {
    const origins = [
      "http://127.0.0.1:8080",
      "http://Backend.EXAMPLE:80",
      "https://api.example:443",
      "https://[::1]:8443",
      "http://127.1",
      "http://0x7f.0.0.1:9",
    ];
    const paths = [
      "/",
      "/orders/42",
      "/orders/42?sort=asc&limit=10",
      "/a/./b",
      "/a/../b",
      "/a/..",
      "/a/%2e%2E/b",
      "/a/%2E/b",
      "/file.json",
      "/..x/y.",
      "/with%20space",
      "/q?quote='x'",
      "/q?",
      "/q?a=b#frag",
      "/é/ü?ß=1",
      "/sp ace",
      "/back\\slash",
      "//double//slash",
      "/a?b=c/../d",
      "/~user/!$&()*+,;=:@",
    ];
    for (const origin of origins) {
      for (const path of paths) {
        const url = origin + path;
        assert.deepEqual(requestTarget(url), byUrl(url), url);
        // Again: the origin now comes from the kept map.
        assert.deepEqual(requestTarget(url), byUrl(url), `${url} (again)`);
      }
    }
    for (const url of ["http://user:secret@h:1/x", "http://h:1", "http://h:1?x=1"]) assert.deepEqual(requestTarget(url), byUrl(url), url);
  });

  it("rejects what URL rejects", () => {
    assert.throws(() => requestTarget("not a url"));
    assert.throws(() => requestTarget("http://exa mple/x"));
  });
});
