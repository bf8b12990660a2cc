import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatRange, isLoopbackHost, parseCidr, parseIp } from "./ip.ts";

const hex = (n: bigint | undefined) => n?.toString(16).padStart(32, "0");

describe("parseIp", () => {
  it("maps IPv4 into ::ffff:0:0/96", () => {
    assert.equal(hex(parseIp("10.1.2.3")), "00000000000000000000ffff0a010203");
    assert.equal(parseIp("10.1.2.3"), parseIp("::ffff:10.1.2.3"));
  });

  it("reads every IPv6 form: full, compressed at either end or inside, with an IPv4 tail", () => {
    assert.equal(hex(parseIp("2001:db8:0:0:0:0:0:1")), "20010db8000000000000000000000001");
    assert.equal(parseIp("2001:db8::1"), parseIp("2001:db8:0:0:0:0:0:1"));
    assert.equal(parseIp("::"), 0n);
    assert.equal(parseIp("::1"), 1n);
    assert.equal(hex(parseIp("fe80::")), "fe800000000000000000000000000000");
    assert.equal(hex(parseIp("64:ff9b::192.0.2.33")), "0064ff9b0000000000000000c0000221");
  });

  it("refuses what is not an address", () => {
    for (
      const bad of [
        "",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "1.2.3.-1",
        "::1::",
        "1:2:3:4:5:6:7:8:9",
        "12345::",
        "g::1",
        "1:2:3:4:5:6:7",
        "1.2.3.4::",
        "example.com",
      ]
    ) {
      assert.equal(parseIp(bad), undefined, bad);
    }
  });
});

describe("parseCidr", () => {
  it("turns a block into its first and last address", () => {
    const v4 = parseCidr("192.168.1.77/24")!;
    assert.deepEqual([v4.from, v4.to], [parseIp("192.168.1.0"), parseIp("192.168.1.255")]);
    const v6 = parseCidr("2001:db8::/32")!;
    assert.deepEqual([v6.from, v6.to], [parseIp("2001:db8::"), parseIp("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")]);
    const all4 = parseCidr("0.0.0.0/0")!;
    assert.deepEqual([all4.from, all4.to], [parseIp("0.0.0.0"), parseIp("255.255.255.255")], "an IPv4 /0 stays within IPv4");
    const one = parseCidr("::1")!;
    assert.deepEqual([one.from, one.to], [1n, 1n]);
  });

  it("refuses prefixes longer than the family allows", () => {
    assert.equal(parseCidr("10.0.0.0/33"), undefined);
    assert.equal(parseCidr("::/129"), undefined);
    assert.equal(parseCidr("10.0.0.0/"), undefined);
  });

  it("formats a range as two 32-digit hex numbers", () => {
    assert.equal(formatRange(parseCidr("10.0.0.0/31")!), "00000000000000000000ffff0a000000-00000000000000000000ffff0a000001");
  });
});

describe("isLoopbackHost", () => {
  it("is true for 127.0.0.0/8, ::1 (bracketed too), their IPv4-mapped forms and localhost names", () => {
    for (const host of ["127.0.0.1", "127.255.0.9", "::1", "[::1]", "::ffff:127.0.0.1", "[::ffff:7f00:1]", "localhost", "LOCALHOST.", "cp.localhost"]) {
      assert.ok(isLoopbackHost(host), host);
    }
  });

  it("is false for the unspecified addresses, other addresses and other names", () => {
    for (const host of ["0.0.0.0", "::", "[::]", "10.0.0.1", "128.0.0.1", "::2", "fe80::1", "cp.example", "localhost.example", "127.0.0.1.nip.io", ""]) {
      assert.ok(!isLoopbackHost(host), host);
    }
  });
});
