import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { notModified, notModifiedHeaders } from "./conditional.ts";

const stored = new Headers({
  etag: 'W/"v2"',
  "last-modified": "Tue, 01 Dec 2026 10:00:00 GMT",
  "content-type": "application/json",
  "content-length": "12",
  "cache-control": "private, max-age=60",
  vary: "accept",
  age: "3",
});
const ask = (headers: Record<string, string>, status = 200) => notModified(new Headers(headers), status, stored);

describe("conditional requests on a cache hit", () => {
  it("If-None-Match: a listed tag (weak comparison) or * matches; another tag or a malformed list does not", () => {
    assert.equal(ask({ "if-none-match": '"v2"' }), true);
    assert.equal(ask({ "if-none-match": '"v1", W/"v2"' }), true);
    assert.equal(ask({ "if-none-match": "*" }), true);
    assert.equal(ask({ "if-none-match": '"v1"' }), false);
    assert.equal(ask({ "if-none-match": "v2" }), false, "an unquoted tag is malformed");
    assert.equal(notModified(new Headers({ "if-none-match": "*" }), 200, new Headers()), false, "* needs a stored tag");
  });

  it("If-Modified-Since counts only without If-None-Match, and only with dates that parse", () => {
    assert.equal(ask({ "if-modified-since": "Tue, 01 Dec 2026 10:00:00 GMT" }), true);
    assert.equal(ask({ "if-modified-since": "Wed, 02 Dec 2026 10:00:00 GMT" }), true);
    assert.equal(ask({ "if-modified-since": "Mon, 30 Nov 2026 10:00:00 GMT" }), false, "changed since");
    assert.equal(ask({ "if-modified-since": "yesterday" }), false);
    assert.equal(ask({ "if-none-match": '"v1"', "if-modified-since": "Wed, 02 Dec 2026 10:00:00 GMT" }), false, "If-None-Match decides");
  });

  it("applies to stored 200 responses only, and not to requests without conditions", () => {
    assert.equal(ask({ "if-none-match": '"v2"' }, 203), false);
    assert.equal(ask({}), false);
  });

  it("a 304 keeps the validators and caching headers, not the body's metadata", () => {
    const kept = notModifiedHeaders(stored);
    assert.deepEqual([...kept.keys()].sort(), ["age", "cache-control", "etag", "last-modified", "vary"]);
  });
});
