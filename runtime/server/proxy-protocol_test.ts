import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseProxyHeader } from "./proxy-protocol.ts";

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A version 2 header: command (0 LOCAL, 1 PROXY), family byte and the address block. */
function v2(command: number, family: number, body: number[]): Buffer {
  return Buffer.from([...SIGNATURE, 0x20 | command, family, body.length >> 8, body.length & 0xff, ...body]);
}

describe("parseProxyHeader", () => {
  it("reads version 1 headers for TCP4, TCP6 and UNKNOWN, with what follows left alone", () => {
    const data = Buffer.from("PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n");
    assert.deepEqual(parseProxyHeader(data), { kind: "header", length: 43, source: "203.0.113.7" });
    assert.deepEqual(parseProxyHeader(Buffer.from("PROXY TCP6 2001:db8::7 ::1 1 2\r\n")), { kind: "header", length: 32, source: "2001:db8::7" });
    assert.deepEqual(parseProxyHeader(Buffer.from("PROXY UNKNOWN\r\n")), { kind: "header", length: 15, source: undefined });
  });

  it("waits for the rest of a header split across reads", () => {
    for (const part of ["P", "PROXY", "PROXY TCP4 203.0.113.7 10.0"]) assert.equal(parseProxyHeader(Buffer.from(part)).kind, "incomplete", part);
    assert.equal(parseProxyHeader(Buffer.from(SIGNATURE.slice(0, 5))).kind, "incomplete");
    assert.equal(parseProxyHeader(v2(1, 0x11, [203, 0, 113, 7, 10, 0, 0, 1, 0, 80, 1, 187]).subarray(0, 20)).kind, "incomplete");
  });

  it("refuses malformed version 1 headers", () => {
    for (
      const bad of [
        "GET / HTTP/1.1\r\n",
        "PROXY TCP4 203.0.113.7 10.0.0.1 56324\r\n",
        "PROXY TCP4 2001:db8::7 10.0.0.1 1 2\r\n",
        "PROXY TCP4 203.0.113.300 10.0.0.1 1 2\r\n",
        "PROXY TCP4 203.0.113.7 10.0.0.1 1 70000\r\n",
        "PROXY TCP5 203.0.113.7 10.0.0.1 1 2\r\n",
        `PROXY TCP4 ${"1".repeat(120)}`,
      ]
    ) assert.equal(parseProxyHeader(Buffer.from(bad)).kind, "invalid", bad);
  });

  it("reads version 2 headers for TCP over IPv4 and IPv6, LOCAL and UNSPEC, skipping TLVs", () => {
    const tcp4 = v2(1, 0x11, [203, 0, 113, 7, 10, 0, 0, 1, 0xdc, 0x04, 0x01, 0xbb, 0x04, 0x00, 0x01, 0x00]);
    assert.deepEqual(parseProxyHeader(Buffer.concat([tcp4, Buffer.from("GET")])), { kind: "header", length: 32, source: "203.0.113.7" });
    const address = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
    const tcp6 = v2(1, 0x21, [...address, ...Array(16).fill(0), 0, 1, 0, 2]);
    assert.deepEqual(parseProxyHeader(tcp6), { kind: "header", length: 52, source: "2001:db8::7" });
    assert.deepEqual(parseProxyHeader(v2(0, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2])), { kind: "header", length: 28, source: undefined });
    assert.deepEqual(parseProxyHeader(v2(1, 0x00, [])), { kind: "header", length: 16, source: undefined });
  });

  it("refuses malformed version 2 headers", () => {
    assert.equal(parseProxyHeader(v2(1, 0x11, [1, 2, 3])).kind, "invalid", "an IPv4 block too short");
    assert.equal(parseProxyHeader(v2(1, 0x21, Array(20).fill(0))).kind, "invalid", "an IPv6 block too short");
    assert.equal(parseProxyHeader(v2(1, 0x12, Array(12).fill(0))).kind, "invalid", "UDP");
    assert.equal(parseProxyHeader(v2(2, 0x11, Array(12).fill(0))).kind, "invalid", "an unknown command");
    const version3 = v2(1, 0x11, Array(12).fill(0));
    version3[12] = 0x31;
    assert.equal(parseProxyHeader(version3).kind, "invalid", "version 3");
    const huge = Buffer.from([...SIGNATURE, 0x21, 0x11, 0xff, 0xff]);
    assert.equal(parseProxyHeader(huge).kind, "invalid", "a length beyond what is accepted");
  });
});
