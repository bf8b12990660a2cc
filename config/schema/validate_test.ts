import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Problem } from "./problems.ts";
import { BUILTIN_POLICIES, normalizePrefix, validateConfig, type ValidateOptions } from "./validate.ts";

/** Validates and insists on failure; returns the problems as `path: message` lines. */
function problems(input: unknown, options?: ValidateOptions): string[] {
  const result = validateConfig(input, options);
  if (result.ok) return [];
  return result.problems.map((p) => `${p.path}: ${p.message}`);
}

function problemList(input: unknown): Problem[] {
  const result = validateConfig(input);
  if (result.ok) assert.fail("expected problems, the configuration validated");
  return result.problems;
}

function valid(input: unknown) {
  const result = validateConfig(input);
  if (!result.ok) assert.fail(`expected a valid configuration, got:\n${result.problems.map((p) => `${p.path}: ${p.message}`).join("\n")}`);
  return result.config;
}

const BACKENDS = { orders: { urls: ["http://127.0.0.1:9000/v2"] }, users: { urls: ["http://127.0.0.1:9001"] } };

describe("validateConfig: valid configurations", () => {
  it("accepts an empty document and fills in every default", () => {
    for (const input of [{}, null, undefined]) {
      assert.deepEqual(valid(input), { apis: [], backends: {}, hostnames: [], policies: {}, gateways: {}, products: [], subscriptions: [], namedValues: {} });
    }
  });

  it("accepts the contract's example and normalises it", () => {
    const config = valid({
      apis: [
        {
          name: "orders",
          path: "/orders",
          hosts: ["API.Example.com", "*.example.com"],
          backend: "orders",
          operations: [
            { name: "get-order", method: "get", url: "/{id}" },
            { method: "*", url: "/{rest*}" },
          ],
          policies: { inbound: ["base"], outbound: [] },
        },
      ],
      backends: { orders: { urls: ["http://127.0.0.1:9000/v2", "https://orders.internal"], timeout: "2m" } },
      hostnames: [{ host: "api.example.com", cert: "./certs/api.pem", key: "./certs/api-key.pem" }],
      gateways: { "edge-1": { apis: ["orders"], hostnames: ["api.example.com"] } },
    });
    assert.deepEqual(config.apis[0]!.hosts, ["api.example.com", "*.example.com"]);
    assert.equal(config.apis[0]!.operations![0]!.method, "GET");
    assert.equal(config.backends.orders!.timeout, 120_000);
    assert.equal(config.hostnames[0]!.negotiateClientCertificate, false);
  });

  it("allows the same path on different hosts, and a host-bound API beside one for any host", () => {
    valid({
      apis: [
        { name: "a", path: "/orders", backend: "orders" },
        { name: "b", path: "/orders", hosts: ["a.example.com"], backend: "orders" },
        { name: "c", path: "/orders", hosts: ["b.example.com", "*.example.com"], backend: "orders" },
        { name: "d", path: "/", backend: "users" },
      ],
      backends: BACKENDS,
    });
  });

  it("allows the same template for different methods", () => {
    valid({
      apis: [{
        name: "a",
        path: "/a",
        backend: "orders",
        operations: [{ method: "GET", url: "/{id}" }, { method: "PUT", url: "/{id}" }, { method: "*", url: "/{id}" }],
      }],
      backends: BACKENDS,
    });
  });
});

describe("validateConfig: several problems at once", () => {
  it("reports every cross-reference problem with its exact path and message", () => {
    const input = {
      apis: [
        { name: "orders", path: "/orders", backend: "orders" },
        { name: "users", path: "/users", backend: "users" },
        { name: "shop", path: "/shop", backend: "ordrs" },
        { name: "orders", path: "/orders-v1", backend: "nothing-like-it" },
        { name: "users-2", path: "/users/", backend: "users" },
      ],
      backends: BACKENDS,
      gateways: { "edge-1": { apis: ["orders", "shop", "billing"] } },
    };
    assert.deepEqual(problems(input), [
      'apis[2].backend: unknown backend "ordrs" (did you mean "orders"? known: orders, users)',
      'apis[3].name: duplicate API name "orders" (also apis[0])',
      'apis[3].backend: unknown backend "nothing-like-it" (known: orders, users)',
      'apis[4].path: "/users/" on any host is already served by apis[1] ("users")',
      'gateways.edge-1.apis[2]: unknown API "billing" (known: orders, users, shop, users-2)',
    ]);
  });

  it("reports every shape problem, not just the first", () => {
    const found = problems({
      apis: [
        { name: "a", path: "a", backend: "orders" },
        { name: "bad name", path: "/b", backend: "orders", operations: [{ method: "FETCH", url: "/x" }] },
        { path: "/c", backend: "orders" },
      ],
      backends: { orders: { urls: ["ftp://x"], timeout: "soon" } },
    });
    assert.deepEqual(found, [
      'apis[0].path: expected a path starting with "/" and without query, fragment or spaces (got "a")',
      "apis[1].name: expected a name of letters, digits, '.', '_' or '-' (got \"bad name\")",
      'apis[1].operations[0].method: Invalid option: expected one of "GET"|"HEAD"|"POST"|"PUT"|"PATCH"|"DELETE"|"OPTIONS"|"TRACE"|"*" (got "FETCH")',
      "apis[2].name: required (expected string)",
      'backends.orders.urls[0]: expected an http:// or https:// URL without query, fragment or credentials (got "ftp://x")',
      'backends.orders.timeout: expected a duration such as "500ms", "30s" or "2m" (got "soon")',
    ]);
  });

  it("reports cross-reference problems together with shape problems", () => {
    assert.deepEqual(
      problems({
        apis: [
          { name: "api", path: "/four", backend: "ordrs" },
          { name: "api", path: "four", backend: "a" },
          {
            name: "b",
            path: "/four",
            backend: "a",
            operations: [{ method: "GET", url: "/{id}" }, { method: "GET", url: "bad" }, { method: "get", url: "/{x}" }],
          },
          { name: "c", path: "/c", hosts: ["bad_host"], backend: "a" },
          { name: "d", path: "/c", backend: "missing", bakend: "a" },
        ],
        backends: { a: { urls: ["not a url"] } },
        gateways: { g: { apis: ["api", "nope", 3] } },
      }),
      [
        'apis[1].path: expected a path starting with "/" and without query, fragment or spaces (got "four")',
        'apis[2].operations[1].url: expected a URL template starting with "/", such as "/{id}" (got "bad")',
        'apis[3].hosts[0]: expected a host name such as api.example.com or *.example.com (got "bad_host")',
        'apis[4].bakend: unknown key (did you mean "backend"?)',
        'backends.a.urls[0]: expected an http:// or https:// URL without query, fragment or credentials (got "not a url")',
        "gateways.g.apis[2]: expected string, received number (got 3)",
        'apis[0].backend: unknown backend "ordrs" (known: a)',
        'apis[1].name: duplicate API name "api" (also apis[0])',
        'apis[2].path: "/four" on any host is already served by apis[0] ("api")',
        "apis[2].operations[2]: duplicate of operations[0] (GET /{x})",
        'apis[4].backend: unknown backend "missing" (known: a)',
        'gateways.g.apis[1]: unknown API "nope" (known: api, b, c, d)',
      ],
    );
  });

  it("skips the cross-reference checks a broken section makes meaningless", () => {
    assert.deepEqual(
      problems({ apis: [{ name: "a", path: "/a", backend: "x" }], backends: ["x"], gateways: { g: { apis: ["a", "b"] } } }),
      ["backends: expected record, received array (got a list)", 'gateways.g.apis[1]: unknown API "b" (known: a)'],
    );
    assert.deepEqual(problems({ apis: "none", gateways: { g: { apis: ["a"] } } }), ['apis: expected array, received string (got "none")']);
  });

  it("gives each problem its path as parts, for finding it in the source file", () => {
    const [first] = problemList({ apis: [{ name: "a", path: "/a", backend: "x" }], backends: BACKENDS });
    assert.equal(first!.path, "apis[0].backend");
    assert.deepEqual(first!.parts, ["apis", 0, "backend"]);
  });
});

describe("validateConfig: unknown keys", () => {
  it("names each unknown key at every depth and suggests the intended one", () => {
    const found = problems({
      apis: [
        {
          name: "a",
          path: "/a",
          backend: "orders",
          bakend: "orders",
          operations: [{ methd: "GET", method: "GET", url: "/" }],
          policies: { inbund: [], inbound: [{ policy: "p", wth: {} }] },
        },
      ],
      backend: {},
      backends: { orders: { url: ["http://x"] } },
      hostnames: [{ host: "a.example.com", cert: "c", key: "k", negotiateClientCertifcate: true }],
      zzzz: 1,
    });
    assert.deepEqual(found.sort(), [
      'apis[0].bakend: unknown key (did you mean "backend"?)',
      'apis[0].operations[0].methd: unknown key (did you mean "method"?)',
      'apis[0].policies.inbound[0].wth: unknown key (did you mean "with"?)',
      'apis[0].policies.inbund: unknown key (did you mean "inbound"?)',
      'backend: unknown key (did you mean "backends"?)',
      'backends.orders.url: unknown key (did you mean "urls"?)',
      "backends.orders.urls: required (expected array)",
      'hostnames[0].negotiateClientCertifcate: unknown key (did you mean "negotiateClientCertificate"?)',
      "zzzz: unknown key",
    ]);
  });

  it("suggests keys of policy modules and gateway assignments", () => {
    const found = problems({ policies: { p: { modul: "./p.wasm" } }, gateways: { g: { api: [] } } });
    assert.ok(found.includes('policies.p.modul: unknown key (did you mean "module"?)'), found.join("\n"));
    assert.ok(found.includes('gateways.g.api: unknown key (did you mean "apis"?)'), found.join("\n"));
  });

  it("reports a map key that is not a valid name as the key, not its value", () => {
    assert.deepEqual(problems({ backends: { "bad name": { urls: ["http://x"] } } }), [
      `backends.bad name: invalid key: expected a name of letters, digits, '.', '_' or '-' (got "bad name")`,
    ]);
  });
});

describe("validateConfig: document shape", () => {
  it("refuses a document that is not a map", () => {
    assert.deepEqual(problems([{ name: "a" }]), [": expected object, received array (got a list)"]);
    assert.deepEqual(problems("apis"), [': expected object, received string (got "apis")']);
  });

  it("refuses sections of the wrong type", () => {
    assert.deepEqual(problems({ apis: { orders: {} }, backends: [] }), [
      "apis: expected array, received object (got a map)",
      "backends: expected record, received array (got a list)",
    ]);
  });

  it("refuses an empty list of hosts and of backend URLs", () => {
    const found = problems({ apis: [{ name: "a", path: "/a", hosts: [], backend: "b" }], backends: { b: { urls: [] } } });
    assert.equal(found.length, 2, found.join("\n"));
    assert.match(found[0]!, /^apis\[0\]\.hosts: .*>=1 items \(got a list\)$/);
    assert.match(found[1]!, /^backends\.b\.urls: .*>=1 items \(got a list\)$/);
  });

  it("refuses bad path prefixes", () => {
    const found = problems({
      apis: [
        { name: "a", path: "orders", backend: "b" },
        { name: "b", path: "/a/../b", backend: "b" },
        { name: "c", path: "/a/./b", backend: "b" },
        { name: "d", path: "/a?x=1", backend: "b" },
        { name: "e", path: "/a b", backend: "b" },
      ],
      backends: { b: { urls: ["http://x"] } },
    });
    assert.deepEqual(
      found.map((p) => p.slice(0, p.indexOf(":"))),
      ["apis[0].path", "apis[1].path", "apis[2].path", "apis[3].path", "apis[4].path"],
    );
    assert.match(found[1]!, /must not contain '\.' or '\.\.' segments \(got "\/a\/\.\.\/b"\)/);
  });

  it("refuses bad host names", () => {
    const found = problems({
      apis: [{ name: "a", path: "/a", hosts: ["ok.example.com", "bad_host", "*", "a.*.com", "-x.com", "api.example.com:443"], backend: "b" }],
      backends: { b: { urls: ["http://x"] } },
    });
    assert.deepEqual(
      found.map((p) => p.slice(0, p.indexOf(":"))),
      ["apis[0].hosts[1]", "apis[0].hosts[2]", "apis[0].hosts[3]", "apis[0].hosts[4]", "apis[0].hosts[5]"],
    );
    assert.match(found[0]!, /expected a host name such as api\.example\.com or \*\.example\.com \(got "bad_host"\)/);
  });
});

describe("validateConfig: routes", () => {
  it("refuses the same path on the same host twice, trailing slash and case aside", () => {
    assert.deepEqual(
      problems({
        apis: [
          { name: "a", path: "/orders", hosts: ["api.example.com"], backend: "orders" },
          { name: "b", path: "/orders/", hosts: ["API.EXAMPLE.COM"], backend: "orders" },
        ],
        backends: BACKENDS,
      }),
      ['apis[1].path: "/orders/" on host api.example.com is already served by apis[0] ("a")'],
    );
  });

  it("refuses two root APIs for any host", () => {
    assert.deepEqual(
      problems({ apis: [{ name: "a", path: "/", backend: "orders" }, { name: "b", path: "/", backend: "users" }], backends: BACKENDS }),
      ['apis[1].path: "/" on any host is already served by apis[0] ("a")'],
    );
  });

  it("refuses the same wildcard host and path twice", () => {
    const found = problems({
      apis: [
        { name: "a", path: "/x", hosts: ["*.example.com"], backend: "orders" },
        { name: "b", path: "/x", hosts: ["other.example.org", "*.example.com"], backend: "orders" },
      ],
      backends: BACKENDS,
    });
    assert.deepEqual(found, ['apis[1].path: "/x" on host *.example.com is already served by apis[0] ("a")']);
  });
});

describe("validateConfig: operations", () => {
  const api = (operations: unknown[]) => ({ apis: [{ name: "a", path: "/a", backend: "orders", operations }], backends: BACKENDS });

  it("refuses the same method and template twice, whatever the parameter names", () => {
    assert.deepEqual(
      problems(
        api([{ method: "GET", url: "/{id}" }, { method: "get", url: "/{orderId}" }, { method: "GET", url: "/{id}/items/{rest*}" }, {
          method: "GET",
          url: "/{x}/items/{all*}",
        }]),
      ),
      [
        "apis[0].operations[1]: duplicate of operations[0] (GET /{orderId})",
        "apis[0].operations[3]: duplicate of operations[2] (GET /{x}/items/{all*})",
      ],
    );
  });

  it("refuses duplicate operation names", () => {
    assert.deepEqual(problems(api([{ name: "op", method: "GET", url: "/" }, { name: "op", method: "POST", url: "/" }])), [
      'apis[0].operations[1].name: duplicate operation name "op" (also operations[0])',
    ]);
  });

  it("refuses a parameter named twice in one template", () => {
    assert.deepEqual(problems(api([{ method: "GET", url: "/{id}/x/{id}" }])), ['apis[0].operations[0].url: parameter {id} appears twice (got "/{id}/x/{id}")']);
  });

  it("refuses bad URL templates, each with its value", () => {
    assert.deepEqual(
      problems(api([
        { method: "GET", url: "x" },
        { method: "GET", url: "/{id}x" },
        { method: "GET", url: "/{rest*}/more" },
        { method: "GET", url: "/a?b=1" },
        { method: "GET", url: "/{}" },
        { method: "GET", url: "/{1st}" },
        { method: "GET", url: "/{a{b}}" },
      ])),
      [
        'apis[0].operations[0].url: expected a URL template starting with "/", such as "/{id}" (got "x")',
        'apis[0].operations[1].url: a parameter must fill a whole segment, as in /{id} or /{rest*} (got "/{id}x")',
        'apis[0].operations[2].url: a catch-all parameter such as {rest*} must be the last segment (got "/{rest*}/more")',
        'apis[0].operations[3].url: expected a URL template starting with "/", such as "/{id}" (got "/a?b=1")',
        'apis[0].operations[4].url: a parameter must fill a whole segment, as in /{id} or /{rest*} (got "/{}")',
        'apis[0].operations[5].url: a parameter must fill a whole segment, as in /{id} or /{rest*} (got "/{1st}")',
        'apis[0].operations[6].url: a parameter must fill a whole segment, as in /{id} or /{rest*} (got "/{a{b}}")',
      ],
    );
  });

  it("requires a method and a URL", () => {
    assert.deepEqual(problems(api([{}])), [
      "apis[0].operations[0].method: required (expected string)",
      "apis[0].operations[0].url: required (expected string)",
    ]);
  });
});

describe("validateConfig: backends", () => {
  it("refuses URLs that are not plain http or https URLs, each at its index", () => {
    const found = problems({
      backends: { b: { urls: ["http://ok:9000/v1", "ftp://x", "http://x/?q=1", "http://x/#f", "not a url", "/relative", "http://user:pa55word@x"] } },
    });
    assert.deepEqual(
      found.map((p) => p.slice(0, p.indexOf(":"))),
      ["backends.b.urls[1]", "backends.b.urls[2]", "backends.b.urls[3]", "backends.b.urls[4]", "backends.b.urls[5]", "backends.b.urls[6]"],
    );
    for (const p of found) assert.match(p, /expected an http:\/\/ or https:\/\/ URL without query, fragment or credentials \(got ".*"\)$/);
    assert.match(found[0]!, /\(got "ftp:\/\/x"\)$/);
  });

  it("never echoes the credentials of a refused URL", () => {
    const [found] = problems({ backends: { b: { urls: ["http://user:pa55word@x"] } } });
    assert.ok(!found!.includes("pa55word"), found);
    assert.match(found!, /\(got "http:\/\/\*\*\*@x"\)$/);
  });
});

describe("validateConfig: policies", () => {
  it("ships the built-in policies written so far", () => {
    assert.deepEqual([...BUILTIN_POLICIES], [
      "set-header",
      "return-response",
      "check-header",
      "set-query-parameter",
      "rewrite-uri",
      "set-backend-service",
      "ip-filter",
      "cors",
      "mock-response",
      "rate-limit",
      "rate-limit-by-key",
      "quota-by-key",
      "quota",
      "limit-concurrency",
      "validate-client-certificate",
      "validate-jwt",
      "cache-lookup",
      "cache-store",
      "cache-lookup-value",
      "cache-store-value",
      "cache-remove-value",
      "retry",
      "forward-request",
    ]);
  });

  it("checks a built-in policy's parameters at their full path", () => {
    assert.deepEqual(
      problems({
        apis: [
          {
            name: "a",
            path: "/a",
            backend: "orders",
            policies: {
              inbound: [
                { policy: "set-header", with: { name: "x-ok", value: 1 } },
                { policy: "set-header", with: { name: "bad name", value: "v", "exists-action": "replace" } },
                { policy: "set-header", with: { name: "x-a" } },
                { policy: "set-header", with: { name: "x-a", "exists-action": "delete", vlaue: "v" } },
              ],
            },
          },
        ],
        backends: BACKENDS,
      }),
      [
        'apis[0].policies.inbound[1].with.name: expected a header name (got "bad name")',
        'apis[0].policies.inbound[1].with.exists-action: Invalid option: expected one of "override"|"skip"|"append"|"delete" (got "replace")',
        'apis[0].policies.inbound[2].with: needs a value unless exists-action is "delete" (got a map)',
        'apis[0].policies.inbound[3].with.vlaue: unknown key (did you mean "value"?)',
      ],
    );
    assert.deepEqual(
      problems({
        apis: [
          {
            name: "a",
            path: "/a",
            backend: "orders",
            policies: {
              inbound: [
                { policy: "return-response", with: { "status-code": 99, "content-type": "text/plain\nx: y" } },
                { policy: "check-header", with: { values: "one" } },
              ],
            },
          },
        ],
        backends: BACKENDS,
      }),
      [
        "apis[0].policies.inbound[0].with.status-code: Too small: expected number to be >=200 (got 99)",
        'apis[0].policies.inbound[0].with.content-type: must not contain line breaks or control characters (got "text/plain\\nx: y")',
        "apis[0].policies.inbound[1].with.name: required (expected string)",
        'apis[0].policies.inbound[1].with.values: expected array, received string (got "one")',
      ],
    );
  });

  it("reports unknown policy names at API and operation scope, and accepts base and on-error policies", () => {
    assert.deepEqual(
      problems({
        apis: [
          {
            name: "a",
            path: "/a",
            backend: "orders",
            policies: { inbound: ["base", { policy: "rate-limit-by-ip", with: { calls: 100 } }], outbound: [{ policy: "set-header" }] },
            operations: [{ method: "GET", url: "/", policies: { "on-error": ["base", { policy: "return-response" }, { policy: "set-heder" }] } }],
          },
        ],
        backends: BACKENDS,
      }),
      [
        'apis[0].policies.inbound[1].policy: unknown policy "rate-limit-by-ip" (did you mean "rate-limit-by-key"? known: set-header, return-response, check-header, set-query-parameter, rewrite-uri, set-backend-service, ip-filter, cors, mock-response, rate-limit, rate-limit-by-key, quota-by-key, quota, limit-concurrency, validate-client-certificate, validate-jwt, cache-lookup, cache-store, cache-lookup-value, cache-store-value, cache-remove-value, retry, forward-request)',
        "apis[0].policies.outbound[0].with.name: required (expected string)",
        'apis[0].operations[0].policies.on-error[2].policy: unknown policy "set-heder" (did you mean "set-header"? known: set-header, return-response, check-header, set-query-parameter, rewrite-uri, set-backend-service, ip-filter, cors, mock-response, rate-limit, rate-limit-by-key, quota-by-key, quota, limit-concurrency, validate-client-certificate, validate-jwt, cache-lookup, cache-store, cache-lookup-value, cache-store-value, cache-remove-value, retry, forward-request)',
      ],
    );
  });

  it("refuses a custom module that takes a built-in's name", () => {
    assert.deepEqual(problems({ policies: { "set-header": { module: "./mine.wasm" } } }), [
      'policies.set-header: "set-header" is the name of a built-in policy; give the custom module another name',
    ]);
  });

  it("accepts custom modules by file, and suggests a custom policy's name", () => {
    assert.deepEqual(
      problems({
        apis: [{ name: "a", path: "/a", backend: "orders", policies: { inbound: [{ policy: "add-tenat" }] } }],
        backends: BACKENDS,
        policies: { "add-tenant": { module: "./add-tenant.wasm" } },
      }),
      [
        'apis[0].policies.inbound[0].policy: unknown policy "add-tenat" (did you mean "add-tenant"? known: set-header, return-response, check-header, set-query-parameter, rewrite-uri, set-backend-service, ip-filter, cors, mock-response, rate-limit, rate-limit-by-key, quota-by-key, quota, limit-concurrency, validate-client-certificate, validate-jwt, cache-lookup, cache-store, cache-lookup-value, cache-store-value, cache-remove-value, retry, forward-request, add-tenant)',
      ],
    );
  });

  it("checks the shape of a policy use and of a module", () => {
    assert.deepEqual(
      problems({
        apis: [{ name: "a", path: "/a", backend: "orders", policies: { inbound: ["bse", { policy: "p", failure: "maybe" }] } }],
        backends: BACKENDS,
        policies: { m: {}, n: { sha256: "ABC" }, o: { module: "./o.wasm", budget: { fuel: 1000, memory: "4 pages" } } },
      }),
      [
        'apis[0].policies.inbound[0]: expected "base" (got "bse")',
        'apis[0].policies.inbound[1].failure: Invalid option: expected one of "closed"|"open" (got "maybe")',
        "policies.m: needs a module path or a sha256 digest (got a map)",
        'policies.n.sha256: expected 64 lower-case hex digits (got "ABC")',
        'policies.o.budget.memory: expected a size from "64KiB" to "1GiB", such as "4MiB" (got "4 pages")',
        "policies.n.module: a module file is required: modules by digest alone come from a control plane",
      ],
    );
  });

  const DIGEST = "a".repeat(64);

  it("takes modules by sha256 alone from a control plane, and never a local path there", () => {
    const config = (policies: Record<string, unknown>) => ({ apis: [], backends: BACKENDS, policies });
    assert.deepEqual(problems(config({ d: { sha256: DIGEST } }), { modules: "digest" }), []);
    assert.deepEqual(problems(config({ f: { module: "./f.wasm", sha256: DIGEST } }), { modules: "digest" }), [
      'policies.f.module: a gateway fed by a control plane loads modules by sha256 only, never from a local path (got "./f.wasm")',
    ]);
    assert.deepEqual(problems(config({ d: { sha256: DIGEST }, f: { module: "./f.wasm" } }), { modules: "any" }), []);
  });
});

describe("validateConfig: gateways", () => {
  it("reports each unknown API a gateway names", () => {
    assert.deepEqual(
      problems({
        apis: [{ name: "orders", path: "/orders", backend: "orders" }],
        backends: BACKENDS,
        gateways: { "edge-1": { apis: ["orders", "ordrs"] }, "edge-2": { apis: ["users"] } },
      }),
      ['gateways.edge-1.apis[1]: unknown API "ordrs" (known: orders)', 'gateways.edge-2.apis[0]: unknown API "users" (known: orders)'],
    );
  });

  it("says so when no API is defined", () => {
    assert.deepEqual(problems({ gateways: { g: { apis: ["x"] } } }), ['gateways.g.apis[0]: unknown API "x" (known: none defined)']);
  });
});

describe("normalizePrefix", () => {
  it("drops trailing slashes and turns the root into an empty prefix", () => {
    assert.equal(normalizePrefix("/"), "");
    assert.equal(normalizePrefix("//"), "");
    assert.equal(normalizePrefix("/orders"), "/orders");
    assert.equal(normalizePrefix("/orders/"), "/orders");
    assert.equal(normalizePrefix("/a/b//"), "/a/b");
  });
});

describe("validateConfig: redis-failure", () => {
  const api = (inbound: unknown[]) => ({ apis: [{ name: "a", path: "/a", backend: "orders", policies: { inbound } }], backends: BACKENDS });

  it("takes open or closed on the rate-limits, quotas and limit-concurrency, whose state Redis can share", () => {
    for (const policy of ["rate-limit", "rate-limit-by-key", "quota", "quota-by-key"]) {
      const withParams = policy.endsWith("by-key") ? { calls: 5, "renewal-period": 60, "counter-key": "k" } : { calls: 5, "renewal-period": 60 };
      valid(api([{ policy, with: withParams, "redis-failure": "closed" }]));
    }
    valid(api([{ policy: "limit-concurrency", with: { key: "{request.ip}", "max-count": 3 }, "redis-failure": "open" }]));
  });

  it("refuses it on other policies and refuses other values, with the path", () => {
    assert.deepEqual(problems(api([{ policy: "set-header", with: { name: "x", value: "y" }, "redis-failure": "open" }])), [
      "apis[0].policies.inbound[0].redis-failure: only policies with shared counters take redis-failure (rate-limit, rate-limit-by-key, quota, quota-by-key, limit-concurrency)",
    ]);
    const custom = { ...api([{ policy: "mine", "redis-failure": "open" }]), policies: { mine: { module: "mine.wasm" } } };
    assert.deepEqual(problems(custom), [
      "apis[0].policies.inbound[0].redis-failure: only built-ins with shared counters take redis-failure (rate-limit, rate-limit-by-key, quota, quota-by-key, limit-concurrency)",
    ]);
    const [bad] = problems(api([{ policy: "rate-limit", with: { calls: 5, "renewal-period": 60 }, "redis-failure": "sometimes" }]));
    assert.match(bad!, /^apis\[0\]\.policies\.inbound\[0\]\.redis-failure: /);
  });
});
