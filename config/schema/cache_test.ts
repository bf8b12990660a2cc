import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { builtinPolicyConfig } from "./policies.ts";
import { validateConfig } from "./validate.ts";

/** Problems of one API whose sections are `sections`, as `path: message` lines. */
function problems(sections: Record<string, unknown[]>): string[] {
  const result = validateConfig({
    apis: [{ name: "a", path: "/a", backend: "main", policies: sections }],
    backends: { main: { urls: ["http://127.0.0.1:9000"] } },
  });
  return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
}

const lookup = (params: Record<string, unknown>) => ({
  policy: "cache-lookup",
  with: { "vary-by-developer": false, "vary-by-developer-groups": false, ...params },
});

describe("cache-lookup and cache-store parameters", () => {
  it("accepts APIM's attributes and resolves them with APIM's defaults", () => {
    assert.deepEqual(
      problems({
        inbound: [lookup({ "vary-by-header": ["Accept", "accept", "X-Lang"], "vary-by-query-parameter": "version", "downstream-caching-type": "public" })],
        outbound: [{ policy: "cache-store", with: { duration: 3600 } }],
      }),
      [],
    );
    assert.deepEqual(
      builtinPolicyConfig("cache-lookup", { "vary-by-developer": true, "vary-by-developer-groups": false, "vary-by-header": ["Accept", "accept"] }),
      {
        "vary-by-developer": "true",
        "vary-by-developer-groups": "false",
        "caching-type": "prefer-external",
        "downstream-caching-type": "none",
        "must-revalidate": "true",
        "allow-private-response-caching": "false",
        "vary-by-header": "accept",
      },
    );
    assert.deepEqual(builtinPolicyConfig("cache-store", { duration: 60 }), { duration: "60" });
  });

  it("requires vary-by-developer and vary-by-developer-groups, as APIM does, and a duration", () => {
    assert.deepEqual(problems({ inbound: [{ policy: "cache-lookup" }], outbound: [{ policy: "cache-store", with: {} }] }), [
      "apis[0].policies.inbound[0].with.vary-by-developer: required (expected true or false)",
      "apis[0].policies.inbound[0].with.vary-by-developer-groups: required (expected true or false)",
      "apis[0].policies.outbound[0].with.duration: required (expected number)",
    ]);
  });

  it("refuses unknown values and attributes at their path", () => {
    const found = problems({
      inbound: [lookup({ "caching-type": "redis", "downstream-caching-type": "shared", "vary-by-header": ["bad header"], "cache-response": true })],
      outbound: [{ policy: "cache-store", with: { duration: 0 } }],
    });
    const paths = found.map((line) => line.split(": ")[0]);
    assert.deepEqual(
      paths.sort(),
      [
        "apis[0].policies.inbound[0].with.cache-response",
        "apis[0].policies.inbound[0].with.caching-type",
        "apis[0].policies.inbound[0].with.downstream-caching-type",
        "apis[0].policies.inbound[0].with.vary-by-header[0]",
        "apis[0].policies.outbound[0].with.duration",
      ].sort(),
    );
  });

  it("takes cache-lookup in inbound and cache-store in outbound only", () => {
    assert.deepEqual(problems({ outbound: [lookup({})], inbound: [{ policy: "cache-store", with: { duration: 1 } }] }), [
      "apis[0].policies.inbound[0].policy: cache-store stores responses: use it in outbound, not inbound",
      "apis[0].policies.outbound[0].policy: cache-lookup answers requests from the cache: use it in inbound, not outbound",
    ]);
  });

  it("takes the value policies in every section, with a key template, and refuses what is missing or wrong at its path", () => {
    const lookupValue = { policy: "cache-lookup-value", with: { key: "k-{request.header.x-id}", "variable-name": "v", "default-value": 0 } };
    const storeValue = { policy: "cache-store-value", with: { key: "k", value: "{context.variable.v}", duration: 30, "caching-type": "internal" } };
    const removeValue = { policy: "cache-remove-value", with: { key: "k" } };
    assert.deepEqual(problems({ inbound: [lookupValue, storeValue], outbound: [removeValue], "on-error": [lookupValue] }), []);
    assert.deepEqual(builtinPolicyConfig("cache-lookup-value", lookupValue.with), {
      key: "k-{request.header.x-id}",
      "variable-name": "v",
      "default-value": "0",
      "caching-type": "prefer-external",
    });
    assert.deepEqual(
      problems({
        inbound: [
          { policy: "cache-lookup-value", with: { key: "{nope.x}" } },
          { policy: "cache-store-value", with: { key: "k", value: "v" } },
          { policy: "cache-remove-value", with: { "caching-type": "external" } },
        ],
      }).map((line) => line.split(": ")[0]),
      [
        "apis[0].policies.inbound[0].with.key",
        "apis[0].policies.inbound[0].with.variable-name",
        "apis[0].policies.inbound[1].with.duration",
        "apis[0].policies.inbound[2].with.key",
      ],
    );
  });
});
