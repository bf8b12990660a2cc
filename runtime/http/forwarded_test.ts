import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCidr } from "../../config/schema/ip.ts";
import { forwardedNodeAddress, MAX_TRUSTED_HOPS, parseForwarded, TrustedProxies, walkChain, xffAddress } from "./forwarded.ts";

const ranges = (...cidrs: string[]) => cidrs.map((c) => parseCidr(c)!);
const proxies = (proto = false) => new TrustedProxies({ trustedProxies: ranges("127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32"), proto });
const client = (peer: string, headers: Record<string, string>, proto = false) => proxies(proto).client(peer, new Headers(headers), "http", "gw.test");

describe("parseForwarded", () => {
  it("reads elements, quoted strings with escapes, and case-insensitive names", () => {
    assert.deepEqual(parseForwarded('for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711";host="a.example:8443"'), [
      { for: "192.0.2.60", proto: "http", by: "203.0.113.43" },
      { for: "[2001:db8:cafe::17]:4711", host: "a.example:8443" },
    ]);
    assert.deepEqual(parseForwarded('for="a\\"b,c;d"'), [{ for: 'a"b,c;d' }]);
    assert.deepEqual(parseForwarded("for=1.2.3.4 , , for=5.6.7.8"), [{ for: "1.2.3.4" }, { for: "5.6.7.8" }]);
  });

  it("refuses what does not follow the grammar", () => {
    for (const bad of ['for="unterminated', "for", "for=a b", "for=1.2.3.4;for=5.6.7.8", "=x", "for=[::1]", 'for="x"junk', "for=a\\b"]) {
      assert.equal(parseForwarded(bad), undefined, bad);
    }
  });
});

describe("addresses in forwarding headers", () => {
  it("X-Forwarded-For entries: IPv4 and IPv6, with or without a port", () => {
    assert.equal(xffAddress(" 203.0.113.7 ")?.text, "203.0.113.7");
    assert.equal(xffAddress("203.0.113.7:5555")?.text, "203.0.113.7");
    assert.equal(xffAddress("2001:DB8::1")?.text, "2001:db8::1");
    assert.equal(xffAddress("[2001:db8::1]:443")?.text, "2001:db8::1");
    assert.equal(xffAddress("::ffff:10.1.2.3")?.text, "10.1.2.3");
    for (const bad of ["", "unknown", "1.2.3", "1.2.3.4:x", "[::1", "[::1]x", "999.1.1.1", "1.2.3.4; drop"]) assert.equal(xffAddress(bad), undefined, bad);
  });

  it("Forwarded nodes: IPv6 only in brackets; unknown and obfuscated names are no address", () => {
    assert.equal(forwardedNodeAddress("192.0.2.43")?.text, "192.0.2.43");
    assert.equal(forwardedNodeAddress("192.0.2.43:47011")?.text, "192.0.2.43");
    assert.equal(forwardedNodeAddress("[2001:db8:cafe::17]")?.text, "2001:db8:cafe::17");
    assert.equal(forwardedNodeAddress("[2001:db8:cafe::17]:_port")?.text, "2001:db8:cafe::17");
    for (const bad of ["unknown", "_hidden", "2001:db8::1", "[1.2.3.4]", "1.2.3.4:", "[::1]:x y"]) assert.equal(forwardedNodeAddress(bad), undefined, bad);
  });
});

describe("walkChain (right-most untrusted)", () => {
  const trusted = (value: bigint) => ranges("10.0.0.0/8").some((r) => value >= r.from && value <= r.to);
  const walk = (...list: string[]) => walkChain(list, xffAddress, trusted)?.map((a) => a.text);

  it("skips trusted hops from the right and stops at the first untrusted one, the client first", () => {
    assert.deepEqual(walk("1.1.1.1", "203.0.113.7", "10.0.0.2", "10.0.0.1"), ["203.0.113.7", "10.0.0.2", "10.0.0.1"]);
    assert.deepEqual(walk("203.0.113.7"), ["203.0.113.7"]);
  });

  it("takes the left-most address when every hop is trusted", () => {
    assert.deepEqual(walk("10.0.0.9", "10.0.0.1"), ["10.0.0.9", "10.0.0.1"]);
  });

  it("never parses past the client, and gives up on garbage on the walk", () => {
    const parsed: string[] = [];
    const result = walkChain(["garbage", "203.0.113.7", "10.0.0.1"], (e) => (parsed.push(e), xffAddress(e)), trusted);
    assert.deepEqual(result?.map((a) => a.text), ["203.0.113.7", "10.0.0.1"], "garbage left of the client is not read");
    assert.deepEqual(parsed, ["10.0.0.1", "203.0.113.7"]);
    assert.equal(walk("203.0.113.7", "garbage", "10.0.0.1"), undefined);
    assert.equal(walk(), undefined);
  });

  it("gives up after MAX_TRUSTED_HOPS trusted hops", () => {
    const many = Array.from({ length: MAX_TRUSTED_HOPS + 2 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
    assert.equal(walk("203.0.113.7", ...many), undefined);
    assert.equal(walk("203.0.113.7", ...many.slice(0, MAX_TRUSTED_HOPS))?.[0], "203.0.113.7");
  });
});

describe("TrustedProxies.client", () => {
  it("a trusted peer's X-Forwarded-For names the client; the chain ends with the peer", () => {
    assert.deepEqual(client("127.0.0.1", { "x-forwarded-for": "6.6.6.6, 203.0.113.7, 10.1.1.1" }), {
      ip: "203.0.113.7",
      proto: "http",
      host: "gw.test",
      chain: ["10.1.1.1", "127.0.0.1"],
    });
  });

  it("an untrusted peer's headers are not read", () => {
    assert.deepEqual(client("192.0.2.1", { "x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https" }, true), {
      ip: "192.0.2.1",
      proto: "http",
      host: "gw.test",
    });
  });

  it("Forwarded wins over X-Forwarded-For, IPv6 quoted and bracketed", () => {
    const facts = client("127.0.0.1", { forwarded: 'for="[2001:db8:1::7]:4711", for=10.0.0.5', "x-forwarded-for": "198.51.100.1" });
    assert.equal(facts.ip, "2001:db8:1::7", "2001:db8:1::7 is in 2001:db8::/32, trusted: the walk goes on to the left-most");
    const outside = client("127.0.0.1", { forwarded: 'for="[2001:db9::7]", for=10.0.0.5' });
    assert.equal(outside.ip, "2001:db9::7");
    assert.deepEqual(outside.chain, ["10.0.0.5", "127.0.0.1"]);
  });

  it("malformed headers fall back to the peer, without a chain", () => {
    const cases: Record<string, string>[] = [
      { forwarded: "for=" },
      { forwarded: "for=unknown" },
      { "x-forwarded-for": "not-an-ip" },
      { forwarded: 'for="1.2.3.4' },
      { "x-forwarded-for": "" },
      { "x-forwarded-for": "203.0.113.7, 10.0.0.1 x" },
    ];
    for (const headers of cases) {
      assert.deepEqual(client("127.0.0.1", headers), { ip: "127.0.0.1", proto: "http", host: "gw.test" }, JSON.stringify(headers));
    }
  });

  it("the scheme and host are believed only with proto enabled, and only when well-formed", () => {
    const headers = { "x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "HTTPS", "x-forwarded-host": "api.example.com" };
    assert.equal(client("127.0.0.1", headers).proto, "http");
    assert.equal(client("127.0.0.1", headers).host, "gw.test");
    assert.equal(client("127.0.0.1", headers, true).proto, "https");
    assert.equal(client("127.0.0.1", headers, true).host, "api.example.com");
    const bad = client("127.0.0.1", { "x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https, http", "x-forwarded-host": "a b/c" }, true);
    assert.equal(bad.proto, "http");
    assert.equal(bad.host, "gw.test");
    const fwd = client("127.0.0.1", { forwarded: 'for=203.0.113.7;proto=https;host="x.example:8443", for=10.0.0.1;proto=http' }, true);
    assert.equal(fwd.proto, "https", "the client's own element says how the client connected");
    assert.equal(fwd.host, "x.example:8443");
  });
});
