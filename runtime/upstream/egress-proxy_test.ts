import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseNoProxy, parseProxyUrl } from "../../config/schema/egress-proxy.ts";
import { formatProblem } from "../../config/schema/problems.ts";
import { resolveSettings } from "../../config/schema/settings.ts";
import { egressProxy, noProxyMatcher, resolveEgressProxy } from "./egress-proxy.ts";

function rules(list: string) {
  const parsed = parseNoProxy(list);
  if (!parsed.ok) assert.fail(parsed.message);
  return parsed.rules;
}

function settings(env: Record<string, string> = {}) {
  const resolved = resolveSettings(undefined, env);
  if (!resolved.ok) assert.fail(resolved.problems.map(formatProblem).join("\n"));
  return resolved.settings;
}

describe("NO_PROXY matching", () => {
  it("exempts a name and the names under it, however the entry is spelled, and nothing else", () => {
    for (const entry of ["example.com", ".example.com", "*.example.com", "EXAMPLE.com."]) {
      const exempt = noProxyMatcher(rules(entry));
      assert.equal(exempt("example.com", 443), true, entry);
      assert.equal(exempt("api.example.com", 443), true, entry);
      assert.equal(exempt("a.b.Example.COM", 80), true, entry);
      assert.equal(exempt("badexample.com", 443), false, entry);
      assert.equal(exempt("example.com.evil", 443), false, entry);
    }
  });

  it("applies an entry's port only to that port (the scheme's default when the URL has none)", () => {
    const exempt = noProxyMatcher(rules("internal:8080, [::1]:9000, 10.0.0.1:80"));
    assert.equal(exempt("internal", 8080), true);
    assert.equal(exempt("internal", 443), false);
    assert.equal(exempt("[::1]", 9000), true);
    assert.equal(exempt("[::1]", 9001), false);
    assert.equal(exempt("10.0.0.1", 80), true);
    assert.equal(exempt("10.0.0.1", 443), false);
  });

  it("matches addresses and CIDR blocks (IPv4 and IPv6) without resolving names", () => {
    const exempt = noProxyMatcher(rules("10.0.0.0/8 192.168.1.7,fd00::/8, ::1"));
    assert.equal(exempt("10.200.3.4", 443), true);
    assert.equal(exempt("11.0.0.1", 443), false);
    assert.equal(exempt("192.168.1.7", 80), true);
    assert.equal(exempt("192.168.1.8", 80), false);
    assert.equal(exempt("[fd12::5]", 443), true);
    assert.equal(exempt("[::1]", 443), true);
    assert.equal(exempt("[fe80::1]", 443), false);
    assert.equal(exempt("localhost", 80), false, "a name is not resolved to match an address entry");
  });

  it("exempts every host with *, and none with an empty list", () => {
    assert.equal(noProxyMatcher(rules("*"))("anything.example", 1), true);
    assert.equal(noProxyMatcher(rules(" , "))("anything.example", 1), false);
  });

  it("refuses entries that are neither names, addresses nor blocks", () => {
    for (const bad of ["10.0.0.0/33", "host:0", "host:70000", "exa mple/x", "http://example.com", "fd00::/129"]) {
      const parsed = parseNoProxy(bad);
      assert.equal(parsed.ok, false, bad);
    }
  });
});

describe("proxy URLs", () => {
  it("take http:// URLs (a bare host:port as http), turning user info into Proxy-Authorization", () => {
    assert.deepEqual(parseProxyUrl("http://user:p%40ss@proxy.example:3128"), {
      ok: true,
      proxy: { origin: "http://proxy.example:3128", authorization: `Basic ${Buffer.from("user:p@ss").toString("base64")}` },
    });
    assert.deepEqual(parseProxyUrl(" proxy.example:3128/ "), { ok: true, proxy: { origin: "http://proxy.example:3128", authorization: undefined } });
    assert.deepEqual(parseProxyUrl("http://token@proxy"), {
      ok: true,
      proxy: { origin: "http://proxy", authorization: `Basic ${Buffer.from("token:").toString("base64")}` },
    });
  });

  it("refuse other schemes, paths and hostless values", () => {
    for (const bad of ["https://proxy:443", "socks5://proxy:1080", "http://proxy:3128/path", "http://proxy:3128/?x=1", "http://", "http://proxy:99999"]) {
      assert.equal(parseProxyUrl(bad).ok, false, bad);
    }
  });
});

describe("resolving the egress proxy", () => {
  it("is undefined without a proxy, whatever NO_PROXY says", () => {
    assert.deepEqual(resolveEgressProxy(settings(), { NO_PROXY: "*" }), { ok: true, proxy: undefined });
  });

  it("reads the lower-case variables before the upper-case ones, per scheme", () => {
    const resolved = resolveEgressProxy(settings(), {
      http_proxy: "http://lower:3128",
      HTTP_PROXY: "http://upper:3128",
      HTTPS_PROXY: "http://secure:3128",
      NO_PROXY: "upper.example",
      no_proxy: "lower.example",
    });
    assert.ok(resolved.ok && resolved.proxy);
    const proxy = resolved.proxy;
    assert.equal(proxy.proxyFor("http://backend:8080/x")?.origin, "http://lower:3128");
    assert.equal(proxy.proxyFor("https://backend/x")?.origin, "http://secure:3128");
    assert.equal(proxy.proxyFor("https://api.lower.example/x"), undefined);
    assert.equal(proxy.proxyFor("https://api.upper.example/x")?.origin, "http://secure:3128");
  });

  it("lets each setting win over its variables, and keeps an empty variable unset", () => {
    const resolved = resolveEgressProxy(
      settings({ PORTICO_NET_CLIENT_PROXY_HTTPS: "http://set:3128", PORTICO_NET_CLIENT_PROXY_NO_PROXY: "set.example" }),
      { https_proxy: "http://env:3128", HTTP_PROXY: "http://env-http:3128", http_proxy: "", NO_PROXY: "*" },
    );
    assert.ok(resolved.ok && resolved.proxy);
    assert.equal(resolved.proxy.proxyFor("https://b/x")?.origin, "http://set:3128");
    assert.equal(resolved.proxy.proxyFor("http://b/x")?.origin, "http://env-http:3128", "http_proxy is empty: HTTP_PROXY applies");
    assert.equal(resolved.proxy.proxyFor("https://set.example/x"), undefined);
    assert.deepEqual(resolved.proxy.describe(), { http: "http://env-http:3128", https: "http://set:3128", noProxy: "set.example" });
  });

  it("goes direct for a scheme without a proxy", () => {
    const proxy = egressProxy(undefined, { origin: "http://p:1", authorization: undefined }, []);
    assert.equal(proxy.proxyFor("http://b:80/x"), undefined);
    assert.equal(proxy.proxyFor("https://b/x")?.origin, "http://p:1");
    // The decision is remembered per origin; a second lookup answers the same.
    assert.equal(proxy.proxyFor("https://b/other?q")?.origin, "http://p:1");
  });

  it("names the variable at fault, never its credentials", () => {
    const resolved = resolveEgressProxy(settings(), { HTTPS_PROXY: "https://user:secret@proxy:443", no_proxy: "10.0.0.0/40" });
    assert.ok(!resolved.ok);
    assert.equal(resolved.problems.length, 2);
    assert.match(resolved.problems[0]!, /^HTTPS_PROXY \(the environment's value for net\.client\.proxy\.https\): expected an http:\/\/ proxy URL/);
    assert.match(resolved.problems[1]!, /^no_proxy \(the environment's value for net\.client\.proxy\.no-proxy\): no-proxy entry "10\.0\.0\.0\/40"/);
    assert.ok(!resolved.problems.join("\n").includes("secret"));
  });
});

describe("egress proxy settings", () => {
  it("reports a bad proxy URL with its key, without showing the value", () => {
    const resolved = resolveSettings({ "net.client.proxy.http": "ftp://user:secret@proxy" }, { PORTICO_NET_CLIENT_PROXY_NO_PROXY: "a b/x" });
    assert.ok(!resolved.ok);
    const lines = resolved.problems.map(formatProblem);
    assert.equal(lines.length, 2);
    assert.match(lines.find((l) => l.startsWith("net.client.proxy.http"))!, /expected an http:\/\/ proxy URL .*\(got a value that is not shown\)/);
    assert.match(lines.find((l) => l.startsWith("net.client.proxy.no-proxy"))!, /no-proxy entry "b\/x".*\(from PORTICO_NET_CLIENT_PROXY_NO_PROXY\)/);
    assert.ok(!lines.join("\n").includes("secret"));
  });

  it("takes the no-proxy list as a YAML list too", () => {
    const resolved = resolveSettings({ net: { client: { proxy: { "no-proxy": ["internal", "10.0.0.0/8"] } } } }, {});
    assert.ok(resolved.ok);
    assert.deepEqual(resolved.settings["net.client.proxy.no-proxy"], [
      { kind: "domain", name: "internal" },
      { kind: "cidr", address: "10.0.0.0", prefix: 8, family: "ipv4" },
    ]);
  });
});
