import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { builtinPolicyConfig } from "./policies.ts";
import { templateProblem } from "./template.ts";
import { validateConfig } from "./validate.ts";

/** Problems of one API whose inbound section is `uses`, as `path: message` lines. */
function problems(...uses: unknown[]): string[] {
  const result = validateConfig({
    apis: [{ name: "a", path: "/a", backend: "main", policies: { inbound: uses } }],
    backends: { main: { urls: ["http://127.0.0.1:9000"] }, spare: { urls: ["http://127.0.0.1:9001"] } },
  });
  return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
}

const at = (i: number, key: string) => `apis[0].policies.inbound[${i}].with.${key}`;

describe("built-in policy parameters", () => {
  it("accepts the documented examples of every new built-in", () => {
    assert.deepEqual(
      problems(
        { policy: "set-query-parameter", with: { name: "v", value: ["1", "{request.header.x-v}"], "exists-action": "append" } },
        { policy: "rewrite-uri", with: { template: "/v2/{id}?src={request.query.from}", "copy-unmatched-params": false } },
        { policy: "set-backend-service", with: { "backend-id": "spare" } },
        { policy: "set-backend-service", with: { "base-url": "https://other.example/base" } },
        { policy: "ip-filter", with: { action: "forbid", address: ["10.0.0.0/8", "2001:db8::/32"], "address-range": [{ from: "::1", to: "::2" }] } },
        { policy: "cors", with: { "allowed-origins": ["https://app.example.com"], "allow-credentials": true, "preflight-result-max-age": 300 } },
        { policy: "mock-response", with: { "status-code": 404 } },
        { policy: "rate-limit", with: { calls: 10, "renewal-period": 60, "remaining-calls-header-name": "x-remaining" } },
        { policy: "rate-limit-by-key", with: { calls: 10, "renewal-period": 60, "counter-key": "{request.ip}", "increment-count": 2 } },
        { policy: "quota-by-key", with: { calls: 1000, "renewal-period": 86400, "counter-key": "{request.header.x-api-key}" } },
        { policy: "quota-by-key", with: { bandwidth: 40000, "renewal-period": 3600, "counter-key": "{subscription.id}:{api.name}" } },
        { policy: "quota", with: { calls: 10000, bandwidth: 40000, "renewal-period": 3600 } },
        { policy: "quota", with: { bandwidth: 1, "renewal-period": 60 } },
        { policy: "limit-concurrency", with: { key: "{api.name}", "max-count": 5 } },
      ),
      [],
    );
  });

  it("reports each wrong parameter at its own path", () => {
    assert.deepEqual(
      problems(
        { policy: "ip-filter", with: { action: "allow", address: ["10.0.0.0/8", "10.0.0.300"] } },
        { policy: "set-backend-service", with: { "backend-id": "mian" } },
        { policy: "rate-limit-by-key", with: { calls: 0, "renewal-period": 60, "counter-key": "{request.hdr.x}" } },
        { policy: "cors", with: { "allowed-origins": ["*"], "allow-credentials": true } },
        { policy: "limit-concurrency", with: { key: "x" } },
        { policy: "ip-filter", with: { action: "allow" } },
        { policy: "set-backend-service", with: {} },
        { policy: "quota", with: { "renewal-period": 60 } },
        { policy: "quota-by-key", with: { bandwidth: 0, "renewal-period": 60, "counter-key": "{jwt.claim.}" } },
      ).map((line) => line.replace(/; known: .*/, "")),
      [
        `${at(0, "address[1]")}: expected an IPv4 or IPv6 address or CIDR block (such as 10.0.0.0/8 or 2001:db8::/32) (got "10.0.0.300")`,
        `${at(1, "backend-id")}: unknown backend "mian" (did you mean "main"? known: main, spare)`,
        `${at(2, "calls")}: Too small: expected number to be >=1 (got 0)`,
        `${at(2, "counter-key")}: template has an unknown placeholder {request.hdr.x}`,
        `${at(3, "allow-credentials")}: allow-credentials cannot be used with the "*" origin (browsers refuse it); list the origins (got true)`,
        `${at(4, "max-count")}: required (expected number)`,
        `apis[0].policies.inbound[5].with: needs at least one address or address-range (got a map)`,
        `apis[0].policies.inbound[6].with: needs exactly one of backend-id and base-url (got a map)`,
        `apis[0].policies.inbound[7].with: needs calls, bandwidth or both (got a map)`,
        `${at(8, "bandwidth")}: Too small: expected number to be >=1 (got 0)`,
        `${at(8, "counter-key")}: template has an unknown placeholder {jwt.claim.}`,
      ],
    );
  });

  it("hands ip-filter the addresses as 128-bit ranges and cors its lists as lines", () => {
    assert.deepEqual(builtinPolicyConfig("ip-filter", { action: "allow", address: ["10.0.0.1"], "address-range": [{ from: "::1", to: "::2" }] }), {
      action: "allow",
      ranges: "00000000000000000000ffff0a000001-00000000000000000000ffff0a000001\n00000000000000000000000000000001-00000000000000000000000000000002",
    });
    assert.deepEqual(builtinPolicyConfig("cors", { "allowed-origins": ["https://a.example", "https://b.example"] }), {
      "allowed-origins": "https://a.example\nhttps://b.example",
      "allowed-methods": "GET\nPOST",
      "allowed-headers": "",
      "expose-headers": "",
      "allow-credentials": "false",
      "terminate-unmatched-request": "true",
    });
    assert.deepEqual(builtinPolicyConfig("rate-limit-by-key", { calls: 5, "renewal-period": 10, "counter-key": "{request.ip}" }), {
      calls: "5",
      "renewal-period": "10",
      "counter-key": "{request.ip}",
      "increment-count": "1",
    });
    assert.deepEqual(builtinPolicyConfig("quota", { bandwidth: 40000, "renewal-period": 3600 }), { bandwidth: "40000", "renewal-period": "3600" });
  });
});

describe("templateProblem", () => {
  it("accepts every documented placeholder, bare route parameters and doubled braces", () => {
    for (
      const ok of [
        "{request.ip}",
        "{request.method} {request.path}?{request.query}",
        "{request.header.x-api-key}",
        "{request.query.a}",
        "{request.route.id}",
        "{id}",
        "{context.variable.tenant}",
        "{api.name}/{operation.name}",
        "{subscription.id}:{subscription.name}@{product.name}",
        "{jwt.claim.sub}/{jwt.claim.https://example.com/tenant}",
        "{{literal}}",
        "plain",
      ]
    ) {
      assert.equal(templateProblem(ok), undefined, ok);
    }
  });

  it("names an unknown placeholder or an unbalanced brace", () => {
    assert.match(templateProblem("{request.body}")!, /unknown placeholder \{request\.body\}/);
    assert.match(templateProblem("{request.header.}")!, /unknown placeholder/);
    assert.match(templateProblem("a{b")!, /without a closing \}/);
    assert.match(templateProblem("a}b")!, /without a matching \{/);
  });
});
