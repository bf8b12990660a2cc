import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { builtinPolicyConfig } from "../../config/schema/policies.ts";
import type { PolicyExchange } from "./abi.ts";
import { builtinModuleBytes } from "./builtins.ts";
import { PolicyModuleCache, PolicyPlugin } from "./extism.ts";

// The module parses the client's address itself (AssemblyScript): every textual form must agree
// with the ranges validation computed (config/schema/ip.ts).
async function filter(params: unknown): Promise<(ip: string) => Promise<boolean>> {
  const module = await new PolicyModuleCache().compile(builtinModuleBytes("ip-filter"));
  const plugin = await PolicyPlugin.create(module, { config: builtinPolicyConfig("ip-filter", params) });
  return async (clientIp) => {
    const ex: PolicyExchange = { method: "GET", path: "/", requestHeaders: new Headers(), responseHeaders: undefined, clientIp };
    await plugin.call("on_request", ex);
    if (ex.reply) assert.equal(ex.reply.status, 403);
    return ex.reply === undefined;
  };
}

describe("ip-filter module (client address parsing in the guest)", () => {
  it("matches IPv4, IPv6 in every notation, IPv4-mapped IPv6 and zone ids", async () => {
    const allowed = await filter({ action: "allow", address: ["10.0.0.0/8", "2001:db8::/32", "fe80::1"] });
    const cases: [string, boolean][] = [
      ["10.0.0.1", true],
      ["10.255.255.255", true],
      ["11.0.0.0", false],
      ["9.255.255.255", false],
      ["::ffff:10.1.2.3", true],
      ["::ffff:a01:203", true],
      ["2001:db8::1", true],
      ["2001:DB8:0:0:0:0:0:FFFF", true],
      ["2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true],
      ["2001:db9::", false],
      ["fe80::1%eth0", true],
      ["fe80::2", false],
      ["::", false],
      ["not-an-ip", false],
      ["", false],
      ["1.2.3.4.5", false],
      ["1::2::3", false],
    ];
    for (const [ip, expected] of cases) assert.equal(await allowed(ip), expected, ip);
  });

  it("with forbid, refuses the listed ranges and lets the rest (and unreadable addresses) through", async () => {
    const forbid = await filter({ action: "forbid", "address-range": [{ from: "192.168.0.10", to: "192.168.0.20" }] });
    assert.equal(await forbid("192.168.0.10"), false);
    assert.equal(await forbid("192.168.0.20"), false);
    assert.equal(await forbid("192.168.0.21"), true);
    assert.equal(await forbid("192.168.0.9"), true);
    assert.equal(await forbid("garbage"), true);
  });
});
