import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatProblem } from "./problems.ts";
import { parseCidr } from "./ip.ts";
import { resolveSettings } from "./settings.ts";

function problemsOf(file: Record<string, unknown> | undefined, env: Record<string, string | undefined> = {}): string[] {
  const result = resolveSettings(file, env);
  if (result.ok) assert.fail(`expected problems, got settings: ${JSON.stringify(result.settings)}`);
  return result.problems.map(formatProblem);
}

describe("net.server.http.forwarded.* settings", () => {
  it("trusted-proxies defaults to none and proto.enabled to false", () => {
    const result = resolveSettings(undefined, {});
    assert.ok(result.ok);
    assert.deepEqual(result.settings["net.server.http.forwarded.trusted-proxies"], []);
    assert.equal(result.settings["net.server.http.forwarded.proto.enabled"], false);
  });

  it("takes IPv4 and IPv6 addresses and CIDR blocks, as a YAML list (nested) or separated by commas", () => {
    const nested = resolveSettings({
      net: { server: { http: { forwarded: { "trusted-proxies": ["10.0.0.0/8", "2001:db8::/32"], proto: { enabled: true } } } } },
    }, {});
    assert.ok(nested.ok, JSON.stringify(!nested.ok && nested.problems));
    assert.deepEqual(nested.settings["net.server.http.forwarded.trusted-proxies"], [parseCidr("10.0.0.0/8"), parseCidr("2001:db8::/32")]);
    assert.equal(nested.settings["net.server.http.forwarded.proto.enabled"], true);
    const env = resolveSettings(undefined, { PORTICO_NET_SERVER_HTTP_FORWARDED_TRUSTED_PROXIES: " 127.0.0.1/32 , ::1 " });
    assert.ok(env.ok);
    assert.deepEqual(env.settings["net.server.http.forwarded.trusted-proxies"], [parseCidr("127.0.0.1/32"), parseCidr("::1")]);
  });

  it("names every entry that is not an address or CIDR block, with the key's path", () => {
    const problems = problemsOf({ "net.server.http.forwarded.trusted-proxies": ["10.0.0.0/8", "10.0.0.0/33", "lb.example", "2001:db8::/129"] });
    assert.equal(problems.length, 1);
    assert.match(
      problems[0]!,
      /^net\.server\.http\.forwarded\.trusted-proxies: not an address or CIDR block: "10\.0\.0\.0\/33", "lb\.example", "2001:db8::\/129"/,
    );
    const env = problemsOf(undefined, { PORTICO_NET_SERVER_HTTP_FORWARDED_TRUSTED_PROXIES: "10.0.0.0/8,1.2.3" });
    assert.match(
      env[0]!,
      /^net\.server\.http\.forwarded\.trusted-proxies: not an address or CIDR block: "1\.2\.3".*from PORTICO_NET_SERVER_HTTP_FORWARDED_TRUSTED_PROXIES/,
    );
    assert.match(
      problemsOf({ "net.server.http.forwarded.trusted-proxies": { a: 1 } })[0]!,
      /^net\.server\.http\.forwarded\.trusted-proxies: expected addresses or CIDR blocks/,
    );
  });

  it("refuses proxy-protocol without trusted proxies (every connection would be refused)", () => {
    const problems = problemsOf({ "net.server.http.proxy-protocol": "yes", "net.server.http.forwarded.proto.enabled": true });
    assert.equal(problems.length, 2);
    assert.match(problems[1]!, /^net\.server\.http\.proxy-protocol: needs net\.server\.http\.forwarded\.trusted-proxies/);
    const ok = resolveSettings({ "net.server.http.proxy-protocol": true, "net.server.http.forwarded.trusted-proxies": "10.0.0.0/8" }, {});
    assert.ok(ok.ok && ok.settings["net.server.http.proxy-protocol"] === true);
  });

  it("refuses proto.enabled without trusted proxies (it would do nothing)", () => {
    const problems = problemsOf({ "net.server.http.forwarded.proto.enabled": true });
    assert.deepEqual(problems.length, 1);
    assert.match(problems[0]!, /^net\.server\.http\.forwarded\.proto\.enabled: needs net\.server\.http\.forwarded\.trusted-proxies/);
    assert.match(
      problemsOf({ "net.server.http.forwarded.proto.enabled": "maybe" })[0]!,
      /^net\.server\.http\.forwarded\.proto\.enabled: expected true or false/,
    );
  });
});
