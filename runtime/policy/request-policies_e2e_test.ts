import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { httpCall } from "../../test/http-client.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

// Built-in policies that change where and how a request goes, or answer it themselves, run in a
// real gateway process (the runtime running this test) against real backends on loopback.
describe("request-shaping built-in policies in a real gateway", () => {
  let main: Upstream;
  let other: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    main = await startUpstream();
    other = await startUpstream();
    gw = await startGatewayProcess({
      config: `
apis:
  - name: query
    path: /query
    backend: main
    policies:
      inbound:
        - { policy: set-query-parameter, with: { name: api-version, value: "2024-01-01" } }
        - { policy: set-query-parameter, with: { name: tag, value: [a, "b c"], exists-action: append } }
        - { policy: set-query-parameter, with: { name: secret, exists-action: delete } }
        - { policy: set-query-parameter, with: { name: who, value: "{request.header.x-user}@{request.route.id}", exists-action: skip } }
    operations:
      - { name: one, method: GET, url: "/{id}" }
  - name: untouched
    path: /untouched
    backend: main
    policies:
      inbound: [ { policy: set-query-parameter, with: { name: absent, exists-action: delete } } ]
  - name: rewrite
    path: /rewrite
    backend: main
    operations:
      - name: item
        method: GET
        url: "/items/{id}"
        policies:
          inbound: [ { policy: rewrite-uri, with: { template: "/v2/catalog/{id}/detail?src={request.query.from}&fixed=1" } } ]
      - name: plain
        method: GET
        url: "/plain/{id}"
        policies:
          inbound: [ { policy: rewrite-uri, with: { template: "/p/{request.route.id}", copy-unmatched-params: false } } ]
  - name: switch
    path: /switch
    backend: main
    operations:
      - name: by-id
        method: GET
        url: /named
        policies:
          inbound:
            - { policy: set-backend-service, with: { backend-id: other } }
            - { policy: rewrite-uri, with: { template: /moved } }
      - name: by-url
        method: GET
        url: "/url/{rest*}"
        policies:
          inbound: [ { policy: set-backend-service, with: { base-url: "${other.url}/base" } } ]
  - name: mock
    path: /mock
    backend: main
    policies:
      inbound: [ { policy: mock-response, with: { status-code: 201, body: '{"id":1}' } } ]
  - name: cors
    path: /cors
    backend: main
    policies:
      inbound:
        - policy: cors
          with:
            allowed-origins: ["https://app.example.com"]
            allowed-methods: [GET, PUT]
            allowed-headers: [content-type, x-api-key]
            expose-headers: [x-request-id]
            allow-credentials: true
            preflight-result-max-age: 600
  - name: cors-open
    path: /cors-open
    backend: main
    policies:
      outbound:
        - { policy: cors, with: { allowed-origins: ["*"], terminate-unmatched-request: false } }
backends:
  main: { urls: ["${main.url}"] }
  other: { urls: ["${other.url}/o"] }
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await main?.close();
    await other?.close();
  });

  const lastUrl = (upstream: Upstream) => upstream.seen.at(-1)!.url;

  describe("set-query-parameter", () => {
    it("overrides, appends, deletes and skips query parameters, with templates", async () => {
      const res = await fetch(`${gw.url}/query/42?secret=s3&tag=z&keep=%7Ex`, { headers: { "x-user": "ann" } });
      assert.equal(res.status, 200);
      await res.body?.cancel();
      const url = new URL(lastUrl(main), "http://x");
      assert.equal(url.pathname, "/42");
      assert.equal(url.searchParams.get("api-version"), "2024-01-01");
      assert.deepEqual(url.searchParams.getAll("tag"), ["z", "a", "b c"], "append keeps the request's value first");
      assert.equal(url.searchParams.has("secret"), false);
      assert.equal(url.searchParams.get("keep"), "~x");
      assert.equal(url.searchParams.get("who"), "ann@42", "a template pulls a header and a route parameter");
      await (await fetch(`${gw.url}/query/42?who=me`)).body?.cancel();
      const skipped = new URL(lastUrl(main), "http://x");
      assert.equal(skipped.searchParams.get("who"), "me", "skip leaves an existing parameter");
      assert.deepEqual(skipped.searchParams.getAll("tag"), ["a", "b c"], "append adds the values when the parameter is absent");
    });

    it("leaves the query byte for byte when nothing changes", async () => {
      await (await fetch(`${gw.url}/untouched/x?b=%7e+1&a=%20`)).body?.cancel();
      assert.equal(lastUrl(main), "/x?b=%7e+1&a=%20");
    });
  });

  describe("rewrite-uri", () => {
    it("rewrites path and query from route parameters and query values, encoding them, and keeps unmatched parameters", async () => {
      await (await fetch(`${gw.url}/rewrite/items/a%20b?from=x%26y&other=1`)).body?.cancel();
      assert.equal(lastUrl(main), "/v2/catalog/a%20b/detail?src=x%26y&fixed=1&from=x%26y&other=1");
    });

    it("drops the request's query when copy-unmatched-params is false", async () => {
      await (await fetch(`${gw.url}/rewrite/plain/7?drop=1`)).body?.cancel();
      assert.equal(lastUrl(main), "/p/7");
    });

    it("refuses to build a path with a dot segment out of a route parameter", async () => {
      const before = main.seen.length;
      // The router already resolves plain and encoded dot segments; an encoded slash inside a
      // parameter gets past it, and the policy must not turn it into "/../.." for the backend.
      const res = await httpCall(gw.port, "/rewrite/items/..%2F..?from=1");
      assert.equal(res.status, 400);
      assert.equal(JSON.parse(res.body).type, "urn:portico:problem:bad-request");
      assert.equal(main.seen.length, before);
    });
  });

  describe("set-backend-service", () => {
    it("sends the request to another configured backend by backend-id (and rewrite-uri applies to it)", async () => {
      const before = main.seen.length;
      const res = await fetch(`${gw.url}/switch/named?q=1`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
      assert.equal(lastUrl(other), "/o/moved?q=1");
      assert.equal(main.seen.length, before, "the API's own backend was not called");
    });

    it("sends the request to a base-url, with the rest of the path and the query", async () => {
      const res = await fetch(`${gw.url}/switch/url/a/b?z=9`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
      assert.equal(lastUrl(other), "/base/url/a/b?z=9");
    });
  });

  describe("mock-response", () => {
    it("answers with the configured status, content type and body without calling the backend", async () => {
      const before = main.seen.length;
      const res = await fetch(`${gw.url}/mock/anything`, { method: "POST", body: "x" });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get("content-type"), "application/json");
      assert.deepEqual(await res.json(), { id: 1 });
      assert.equal(main.seen.length, before);
    });
  });

  describe("cors", () => {
    const origin = "https://app.example.com";

    it("answers an allowed preflight itself with the CORS headers", async () => {
      const before = main.seen.length;
      const res = await httpCall(gw.port, "/cors/x", {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "PUT", "access-control-request-headers": "X-Api-Key, content-type" },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers["access-control-allow-origin"], origin);
      assert.equal(res.headers["access-control-allow-methods"], "GET, PUT");
      assert.equal(res.headers["access-control-allow-headers"], "content-type, x-api-key");
      assert.equal(res.headers["access-control-allow-credentials"], "true");
      assert.equal(res.headers["access-control-max-age"], "600");
      assert.match(res.headers.vary ?? "", /Origin/);
      assert.equal(main.seen.length, before, "a preflight never reaches the backend");
    });

    it("terminates a preflight that does not match (origin, method or header) with a bare 200", async () => {
      const before = main.seen.length;
      const cases: Record<string, string>[] = [
        { origin: "https://evil.example", "access-control-request-method": "GET" },
        { origin, "access-control-request-method": "DELETE" },
        { origin, "access-control-request-method": "GET", "access-control-request-headers": "x-other" },
      ];
      for (const headers of cases) {
        const res = await httpCall(gw.port, "/cors/x", { method: "OPTIONS", headers });
        assert.equal(res.status, 200);
        assert.equal(res.headers["access-control-allow-origin"], undefined, JSON.stringify(headers));
      }
      assert.equal(main.seen.length, before);
    });

    it("adds CORS headers to an allowed cross-origin request's response", async () => {
      const res = await httpCall(gw.port, "/cors/x", { headers: { origin } });
      assert.equal(res.status, 200);
      assert.equal(main.seen.at(-1)!.headers.origin, origin, "the backend was called");
      assert.equal(res.headers["access-control-allow-origin"], origin);
      assert.equal(res.headers["access-control-allow-credentials"], "true");
      assert.equal(res.headers["access-control-expose-headers"], "x-request-id");
      assert.match(res.headers.vary ?? "", /Origin/);
    });

    it("terminates a GET from another origin, lets a POST from it through without CORS headers, and ignores requests without Origin", async () => {
      const before = main.seen.length;
      const get = await httpCall(gw.port, "/cors/x", { headers: { origin: "https://evil.example" } });
      assert.equal(get.status, 200);
      assert.equal(get.body, "");
      assert.equal(main.seen.length, before, "terminated before the backend");
      const post = await httpCall(gw.port, "/cors/x", { method: "POST", headers: { origin: "https://evil.example" }, body: "x" });
      assert.equal(post.status, 200);
      assert.equal(post.headers["access-control-allow-origin"], undefined);
      assert.equal(main.seen.length, before + 1);
      const plain = await httpCall(gw.port, "/cors/x");
      assert.equal(plain.headers["access-control-allow-origin"], undefined);
      assert.equal(main.seen.length, before + 2);
    });

    it("in outbound with a wildcard origin, answers * to any origin", async () => {
      const res = await httpCall(gw.port, "/cors-open/x", { headers: { origin: "https://anyone.example" } });
      assert.equal(res.status, 200);
      assert.equal(res.headers["access-control-allow-origin"], "*");
      assert.equal(res.headers["access-control-allow-credentials"], undefined);
    });
  });
});

describe("ip-filter in a real gateway listening on IPv4 and IPv6", () => {
  let upstream: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGatewayProcess({
      env: { PORTICO_NET_SERVER_BIND_ADDRESS: "::" },
      config: `
apis:
  - name: v4
    path: /v4
    backend: b
    policies: { inbound: [ { policy: ip-filter, with: { action: allow, address: ["127.0.0.0/8", "10.1.2.3"] } } ] }
  - name: deny6
    path: /deny6
    backend: b
    policies: { inbound: [ { policy: ip-filter, with: { action: forbid, address: ["::1/128"] } } ] }
  - name: range
    path: /range
    backend: b
    policies: { inbound: [ { policy: ip-filter, with: { action: allow, address-range: [ { from: "::", to: "::2" } ] } } ] }
backends:
  b: { urls: ["${upstream.url}"] }
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const from = async (host: string, path: string) => {
    const res = await httpCall(gw.port, path, { host });
    if (res.status === 403) {
      assert.equal(res.headers["content-type"], "application/problem+json");
      assert.equal(JSON.parse(res.body).type, "urn:portico:problem:forbidden");
    }
    return res.status;
  };

  it("allows an IPv4 CIDR block and refuses IPv6 clients outside it", async () => {
    assert.equal(await from("127.0.0.1", "/v4/x"), 200);
    assert.equal(await from("::1", "/v4/x"), 403);
  });

  it("forbids an IPv6 block and lets IPv4 clients through", async () => {
    assert.equal(await from("::1", "/deny6/x"), 403);
    assert.equal(await from("127.0.0.1", "/deny6/x"), 200);
  });

  it("allows an address range", async () => {
    assert.equal(await from("::1", "/range/x"), 200);
    assert.equal(await from("127.0.0.1", "/range/x"), 403);
  });

  it("never calls the backend for a refused client", async () => {
    const before = upstream.seen.length;
    assert.equal(await from("::1", "/v4/y"), 403);
    assert.equal(upstream.seen.length, before);
  });
});
