import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { requestTarget } from "./target.ts";

const t = (url: string) => {
  const { path, search } = requestTarget(url);
  return { path, search };
};

describe("requestTarget", () => {
  it("splits a plain URL into path and query without changing a byte", () => {
    assert.deepEqual(t("http://gw.example.com:8080/orders/42?x=1&y=%20z"), { path: "/orders/42", search: "?x=1&y=%20z" });
    assert.deepEqual(t("http://gw/orders"), { path: "/orders", search: "" });
    assert.deepEqual(t("http://gw/"), { path: "/", search: "" });
    assert.deepEqual(t("http://gw/a?"), { path: "/a", search: "" }, "an empty query is no query");
    assert.deepEqual(t("https://[::1]:8443/a?b"), { path: "/a", search: "?b" });
  });

  it("gives / for a URL without a path, keeping its query", () => {
    assert.deepEqual(t("http://gw"), { path: "/", search: "" });
    assert.deepEqual(t("http://gw?x=1"), { path: "/", search: "?x=1" });
  });

  it("accepts an origin-form target too", () => {
    assert.deepEqual(t("/a//b/../c?x=//y"), { path: "/a/c", search: "?x=//y" });
    assert.deepEqual(t("/orders?x=1"), { path: "/orders", search: "?x=1" });
  });

  it("resolves dot segments", () => {
    assert.deepEqual(t("http://gw/a/b/../c"), { path: "/a/c", search: "" });
    assert.deepEqual(t("http://gw/a/./b/."), { path: "/a/b/", search: "" });
    assert.deepEqual(t("http://gw/a/b/.."), { path: "/a/", search: "" });
    assert.deepEqual(t("http://gw/../../etc/passwd"), { path: "/etc/passwd", search: "" });
    assert.deepEqual(t("http://gw/.."), { path: "/", search: "" });
  });

  it("resolves percent-encoded dot segments, in any case and mixed", () => {
    assert.deepEqual(t("http://gw/admin/%2e%2e/public"), { path: "/public", search: "" });
    assert.deepEqual(t("http://gw/admin/%2E%2E/public"), { path: "/public", search: "" });
    assert.deepEqual(t("http://gw/admin/.%2e/public"), { path: "/public", search: "" });
    assert.deepEqual(t("http://gw/admin/%2e./public"), { path: "/public", search: "" });
    assert.deepEqual(t("http://gw/a/%2e/b"), { path: "/a/b", search: "" });
    assert.deepEqual(t("http://gw/%2e%2e/%2e%2e/x"), { path: "/x", search: "" });
  });

  it("leaves names that only contain dots alone", () => {
    assert.deepEqual(t("http://gw/.well-known/x"), { path: "/.well-known/x", search: "" });
    assert.deepEqual(t("http://gw/a/...b/file.txt"), { path: "/a/...b/file.txt", search: "" });
    assert.deepEqual(t("http://gw/a%2eb/c"), { path: "/a%2eb/c", search: "" });
  });

  it("reads a backslash as a slash", () => {
    assert.deepEqual(t("http://gw/a\\b"), { path: "/a/b", search: "" });
    assert.deepEqual(t("http://gw/a\\..\\b"), { path: "/b", search: "" });
  });

  it("never reads the start of a path as a host name", () => {
    assert.deepEqual(t("http://gw//evil.example/../x"), { path: "/x", search: "" });
    assert.deepEqual(t("http://gw/\\evil.example/x"), { path: "/evil.example/x", search: "" });
    assert.deepEqual(t("http://gw//x/./y"), { path: "/x/y", search: "" });
    assert.deepEqual(t("http://gw//x/%2e%2e/y"), { path: "/y", search: "" });
  });

  it("drops a fragment", () => {
    assert.deepEqual(t("http://gw/a#frag"), { path: "/a", search: "" });
    assert.deepEqual(t("http://gw/a?x=1#frag"), { path: "/a", search: "?x=1" });
    assert.deepEqual(t("http://gw/a/../b#f?x"), { path: "/b", search: "" });
  });

  it("percent-encodes non-ASCII and spaces as UTF-8", () => {
    assert.deepEqual(t("http://gw/café"), { path: "/caf%C3%A9", search: "" });
    assert.deepEqual(t("http://gw/a b"), { path: "/a%20b", search: "" });
    assert.deepEqual(t("http://gw/€/x?q=€"), { path: "/%E2%82%AC/x", search: "?q=%E2%82%AC" });
  });

  it("percent-encodes what every runtime's URL parser encodes in a path, with or without dot segments", () => {
    assert.deepEqual(t('http://gw/a"<>`{b}'), { path: "/a%22%3C%3E%60%7Bb%7D", search: "" });
    assert.deepEqual(t("http://gw/x/../{b}"), { path: "/%7Bb%7D", search: "" });
    assert.deepEqual(t("http://gw/a|b'c[d]~e!$&()*+,;=:@"), { path: "/a|b'c[d]~e!$&()*+,;=:@", search: "" });
  });

  it("merges runs of slashes, also from backslashes, before resolving dot segments", () => {
    assert.deepEqual(t("http://gw/a//b"), { path: "/a/b", search: "" });
    assert.deepEqual(t("http://gw//double//slash///x/?q=//1"), { path: "/double/slash/x/", search: "?q=//1" });
    assert.deepEqual(t("http://gw/a\\\\b\\/c"), { path: "/a/b/c", search: "" });
    assert.deepEqual(t("http://gw/a/b//../c"), { path: "/a/c", search: "" });
  });

  it("keeps encoded slashes encoded", () => {
    assert.deepEqual(t("http://gw/a%2Fb"), { path: "/a%2Fb", search: "" });
    assert.deepEqual(t("http://gw/a%2fb/./c//d"), { path: "/a%2fb/c/d", search: "" });
    assert.deepEqual(t("http://gw/a/%2F%2F/b"), { path: "/a/%2F%2F/b", search: "" });
  });

  it("keeps the query byte for byte, also when the path is normalised", () => {
    const query = "?a=%2e%2e&b=/./c&c='\"`{}|^&d=\\&e=%zz&f=a+b";
    assert.deepEqual(t(`http://gw/x${query}`), { path: "/x", search: query });
    assert.deepEqual(t(`http://gw/x/../y${query}`), { path: "/y", search: query });
    assert.deepEqual(t(`http://gw/x\\y${query}`), { path: "/x/y", search: query });
    assert.deepEqual(t("http://gw/a?x=/../b"), { path: "/a", search: "?x=/../b" });
  });

  it("keeps percent-encoding in the path as sent", () => {
    assert.deepEqual(t("http://gw/a%20b/%7Euser/%41"), { path: "/a%20b/%7Euser/%41", search: "" });
    assert.deepEqual(t("http://gw/a%20b/../%7e"), { path: "/%7e", search: "" });
  });
});
