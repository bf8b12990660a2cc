import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mustBuild, snapshotFromValue } from "../../config/snapshot/build.ts";
import { hostName, type RouteMatch, type RouteMiss, Router } from "./router.ts";

/** The APIs of a snapshot built from `apis` (validated: hosts lower-cased, methods upper-cased, prefixes canonical, operations named). */
function specs(apis: unknown[]) {
  return mustBuild(snapshotFromValue({ apis, backends: { b: { urls: ["http://127.0.0.1:9000"] } } })).apis;
}

/** A router over a snapshot's APIs; each API's target is its name. */
function router(apis: unknown[]): Router<string> {
  return new Router(specs(apis), (api) => api.name);
}

function hit<T>(route: RouteMatch<T> | RouteMiss): RouteMatch<T> {
  if ("miss" in route) assert.fail(`expected a route, got ${JSON.stringify(route)}`);
  return route;
}

/** The API name a request reaches, or the kind of miss. */
function to(r: Router<string>, host: string | null, method: string, path: string): string {
  const route = r.match(host, method, path);
  return "miss" in route ? route.miss : route.api.target;
}

describe("hostName", () => {
  it("lower-cases and drops the port, keeping IPv6 brackets", () => {
    assert.equal(hostName("API.Example.COM"), "api.example.com");
    assert.equal(hostName("api.example.com:8443"), "api.example.com");
    assert.equal(hostName("[::1]:8080"), "[::1]");
    assert.equal(hostName("[2001:DB8::1]"), "[2001:db8::1]");
    assert.equal(hostName("127.0.0.1:80"), "127.0.0.1");
  });
});

describe("Router: hosts", () => {
  const r = router([
    { name: "any", path: "/", backend: "b" },
    { name: "any-orders", path: "/orders", backend: "b" },
    { name: "exact", path: "/", hosts: ["api.example.com"], backend: "b" },
    { name: "wild", path: "/", hosts: ["*.example.com"], backend: "b" },
    { name: "deep-wild", path: "/", hosts: ["*.eu.example.com"], backend: "b" },
    { name: "exact-users", path: "/users", hosts: ["shop.example.org"], backend: "b" },
  ]);

  it("prefers the exact host, then the most specific wildcard, then any host", () => {
    assert.equal(to(r, "api.example.com", "GET", "/x"), "exact");
    assert.equal(to(r, "www.example.com", "GET", "/x"), "wild");
    assert.equal(to(r, "a.b.example.com", "GET", "/x"), "wild");
    assert.equal(to(r, "api.eu.example.com", "GET", "/x"), "deep-wild");
    assert.equal(to(r, "example.org", "GET", "/x"), "any");
  });

  it("does not match the wildcard's own apex domain", () => {
    assert.equal(to(r, "example.com", "GET", "/x"), "any");
    assert.equal(to(r, "notexample.com", "GET", "/x"), "any");
  });

  it("reads the Host header in any case and with a port", () => {
    assert.equal(to(r, "API.Example.COM:8443", "GET", "/x"), "exact");
    assert.equal(to(r, "WWW.EXAMPLE.COM:80", "GET", "/x"), "wild");
  });

  it("lets a host's own APIs take its paths before APIs for any host", () => {
    assert.equal(to(r, "api.example.com", "GET", "/orders/1"), "exact");
    assert.equal(to(r, "other.test", "GET", "/orders/1"), "any-orders");
  });

  it("falls back to APIs for any host when the host's own APIs do not fit the path", () => {
    assert.equal(to(r, "shop.example.org", "GET", "/users/1"), "exact-users");
    assert.equal(to(r, "shop.example.org", "GET", "/orders/1"), "any-orders");
    assert.equal(to(r, "shop.example.org", "GET", "/"), "any");
  });

  it("serves only APIs for any host when there is no Host header", () => {
    assert.equal(to(r, null, "GET", "/orders"), "any-orders");
    assert.equal(to(r, null, "GET", "/x"), "any");
  });

  it("finds nothing for a host-bound API on another host", () => {
    const only = router([{ name: "a", path: "/", hosts: ["a.example.com"], backend: "b" }]);
    assert.equal(to(only, "b.example.com", "GET", "/"), "no-route");
    assert.equal(to(only, null, "GET", "/"), "no-route");
    assert.equal(to(only, "a.example.com", "GET", "/"), "a");
  });
});

describe("Router: path prefixes", () => {
  const r = router([
    { name: "orders", path: "/orders", backend: "b" },
    { name: "archive", path: "/orders/archive", backend: "b" },
    { name: "users", path: "/users/", backend: "b" },
  ]);

  it("takes the longest prefix", () => {
    assert.equal(to(r, null, "GET", "/orders/archive/2020"), "archive");
    assert.equal(to(r, null, "GET", "/orders/archive"), "archive");
    assert.equal(to(r, null, "GET", "/orders/42"), "orders");
  });

  it("matches only on a segment boundary", () => {
    assert.equal(to(r, null, "GET", "/ordersX"), "no-route");
    assert.equal(to(r, null, "GET", "/orders-old/1"), "no-route");
    assert.equal(to(r, null, "GET", "/orders/archiveX"), "orders");
    assert.equal(to(r, null, "GET", "/Orders/1"), "no-route");
  });

  it("gives the rest of the path exactly as received", () => {
    assert.equal(hit(r.match(null, "GET", "/orders")).rest, "");
    assert.equal(hit(r.match(null, "GET", "/orders/")).rest, "/");
    assert.equal(hit(r.match(null, "GET", "/orders/42")).rest, "/42");
    assert.equal(hit(r.match(null, "GET", "/orders//a%2Fb/")).rest, "//a%2Fb/");
  });

  it("does not treat an encoded slash as a segment boundary", () => {
    assert.equal(to(r, null, "GET", "/orders%2F42"), "no-route");
  });

  it("reads a configured trailing slash as the same prefix", () => {
    assert.equal(to(r, null, "GET", "/users"), "users");
    assert.equal(hit(r.match(null, "GET", "/users/7")).rest, "/7");
  });

  it("lets a root API take every path no other API takes, with the whole path as rest", () => {
    const withRoot = router([
      { name: "root", path: "/", backend: "b" },
      { name: "orders", path: "/orders", backend: "b" },
    ]);
    assert.equal(to(withRoot, null, "GET", "/ordersX"), "root");
    assert.equal(hit(withRoot.match(null, "GET", "/ordersX")).rest, "/ordersX");
    assert.equal(hit(withRoot.match(null, "GET", "/")).rest, "/");
    assert.equal(to(withRoot, null, "GET", "/orders/1"), "orders");
  });

  it("forwards every method and path when an API lists no operations", () => {
    for (const method of ["GET", "POST", "DELETE", "PATCH", "OPTIONS", "PROPFIND"]) {
      const route = hit(r.match(null, method, "/orders/a/b/c"));
      assert.equal(route.operation, undefined);
      assert.equal(route.params, undefined);
    }
  });
});

describe("Router: operations", () => {
  const r = router([
    {
      name: "orders",
      path: "/orders",
      backend: "b",
      operations: [
        { name: "get-by-id", method: "GET", url: "/{id}" },
        { name: "get-mine", method: "GET", url: "/mine" },
        { name: "list", method: "GET", url: "/" },
        { name: "create", method: "POST", url: "/" },
        { name: "item", method: "GET", url: "/{id}/items/{item}" },
        { name: "files", method: "GET", url: "/{id}/files/{path*}" },
        { name: "anything", method: "*", url: "/any/{x}" },
        { name: "delete", method: "delete", url: "/{id}" },
      ],
    },
  ]);

  const op = (method: string, path: string) => {
    const route = hit(r.match(null, method, path));
    return { name: route.operation!.name, params: { ...route.params } };
  };

  it("matches templates and gives their parameters", () => {
    assert.deepEqual(op("GET", "/orders/42"), { name: "get-by-id", params: { id: "42" } });
    assert.deepEqual(op("GET", "/orders/42/items/7"), { name: "item", params: { id: "42", item: "7" } });
    assert.deepEqual(op("GET", "/orders"), { name: "list", params: {} });
    assert.deepEqual(op("GET", "/orders/"), { name: "list", params: {} });
    assert.deepEqual(op("POST", "/orders"), { name: "create", params: {} });
    assert.deepEqual(op("DELETE", "/orders/9"), { name: "delete", params: { id: "9" } });
  });

  it("lets a catch-all take the rest of the path, or nothing", () => {
    assert.deepEqual(op("GET", "/orders/42/files/a/b/c.txt"), { name: "files", params: { id: "42", path: "a/b/c.txt" } });
    assert.deepEqual(op("GET", "/orders/42/files/"), { name: "files", params: { id: "42", path: "" } });
    assert.deepEqual(op("GET", "/orders/42/files"), { name: "files", params: { id: "42", path: "" } });
  });

  it("prefers a literal segment over a parameter, whatever the order in the file", () => {
    assert.deepEqual(op("GET", "/orders/mine"), { name: "get-mine", params: {} });
    const reversed = router([
      {
        name: "a",
        path: "/",
        backend: "b",
        operations: [{ name: "param", method: "GET", url: "/{x}/{y}" }, { name: "literal", method: "GET", url: "/{x}/fixed" }],
      },
    ]);
    assert.equal(hit(reversed.match(null, "GET", "/1/fixed")).operation!.name, "literal");
    assert.equal(hit(reversed.match(null, "GET", "/1/other")).operation!.name, "param");
  });

  it("prefers an exact template over a catch-all for an empty rest", () => {
    const r2 = router([
      {
        name: "a",
        path: "/api",
        backend: "b",
        operations: [{ name: "all", method: "GET", url: "/{rest*}" }, { name: "root", method: "GET", url: "/" }, {
          name: "x-all",
          method: "GET",
          url: "/x/{rest*}",
        }, { name: "x", method: "GET", url: "/x" }],
      },
    ]);
    assert.equal(hit(r2.match(null, "GET", "/api")).operation!.name, "root");
    assert.equal(hit(r2.match(null, "GET", "/api/")).operation!.name, "root");
    assert.equal(hit(r2.match(null, "GET", "/api/x")).operation!.name, "x");
    assert.equal(hit(r2.match(null, "GET", "/api/x/1")).operation!.name, "x-all");
    assert.equal(hit(r2.match(null, "GET", "/api/y/1")).operation!.name, "all");
  });

  it("percent-decodes parameters, keeping invalid escapes as sent", () => {
    assert.deepEqual(op("GET", "/orders/a%20b").params, { id: "a b" });
    assert.deepEqual(op("GET", "/orders/%E2%82%AC").params, { id: "€" });
    assert.deepEqual(op("GET", "/orders/a%2Fb").params, { id: "a/b" });
    assert.deepEqual(op("GET", "/orders/100%").params, { id: "100%" });
    assert.deepEqual(op("GET", "/orders/1/files/x%20y/z").params, { id: "1", path: "x y/z" });
  });

  it("does not let a parameter match an empty segment or extra segments", () => {
    assert.deepEqual(r.match(null, "GET", "/orders//items/7"), { miss: "no-route" });
    assert.deepEqual(r.match(null, "GET", "/orders/1/2"), { miss: "no-route" });
    assert.deepEqual(r.match(null, "GET", "/orders/42/"), { miss: "no-route" });
  });

  it("answers 405 with the methods the path allows", () => {
    assert.deepEqual(r.match(null, "PUT", "/orders/42"), { miss: "method-not-allowed", allow: ["GET", "DELETE"] });
    assert.deepEqual(r.match(null, "PUT", "/orders"), { miss: "method-not-allowed", allow: ["GET", "POST"] });
    // "/mine" (GET) and "/{id}" (GET, DELETE) both fit: each method is named once.
    assert.deepEqual(r.match(null, "PUT", "/orders/mine"), { miss: "method-not-allowed", allow: ["GET", "DELETE"] });
    assert.deepEqual(r.match(null, "POST", "/orders/1/items/2"), { miss: "method-not-allowed", allow: ["GET"] });
  });

  it("names each method once in the allow list", () => {
    const r2 = router([{ name: "a", path: "/", backend: "b", operations: [{ method: "POST", url: "/x/{id}" }, { method: "POST", url: "/{rest*}" }] }]);
    assert.deepEqual(r2.match(null, "GET", "/x/1"), { miss: "method-not-allowed", allow: ["POST"] });
  });

  it("serves HEAD with the GET operation", () => {
    assert.deepEqual(op("HEAD", "/orders/42"), { name: "get-by-id", params: { id: "42" } });
    assert.deepEqual(op("HEAD", "/orders"), { name: "list", params: {} });
  });

  it("lets * take any method", () => {
    for (const method of ["GET", "POST", "PROPFIND"]) assert.deepEqual(op(method, "/orders/any/1"), { name: "anything", params: { x: "1" } });
  });

  it("prefers the operation naming the method over * and over GET for HEAD, whatever the order", () => {
    const r2 = router([
      {
        name: "a",
        path: "/",
        backend: "b",
        operations: [
          { name: "star", method: "*", url: "/x" },
          { name: "get-x", method: "GET", url: "/x" },
          { name: "get-y", method: "GET", url: "/y" },
          { name: "head-y", method: "HEAD", url: "/y" },
        ],
      },
    ]);
    assert.equal(hit(r2.match(null, "GET", "/x")).operation!.name, "get-x");
    assert.equal(hit(r2.match(null, "POST", "/x")).operation!.name, "star");
    assert.equal(hit(r2.match(null, "HEAD", "/x")).operation!.name, "star");
    assert.equal(hit(r2.match(null, "HEAD", "/y")).operation!.name, "head-y");
    assert.equal(hit(r2.match(null, "GET", "/y")).operation!.name, "get-y");
  });

  it("still prefers the more specific template over a better method match", () => {
    const r2 = router([{
      name: "a",
      path: "/",
      backend: "b",
      operations: [{ name: "get-param", method: "GET", url: "/{id}" }, { name: "star-literal", method: "*", url: "/fixed" }],
    }]);
    assert.equal(hit(r2.match(null, "GET", "/fixed")).operation!.name, "star-literal");
  });

  it("finds no route when the prefix fits but no template does", () => {
    assert.deepEqual(r.match(null, "GET", "/orders/1/unknown/2"), { miss: "no-route" });
  });

  it("names unnamed operations by method and position", () => {
    const r2 = router([{ name: "a", path: "/", backend: "b", operations: [{ method: "GET", url: "/a" }, { method: "post", url: "/b" }] }]);
    assert.equal(hit(r2.match(null, "GET", "/a")).operation!.name, "get-0");
    assert.equal(hit(r2.match(null, "POST", "/b")).operation!.name, "post-1");
  });
});

describe("Router: targets", () => {
  it("attaches each API's target once and hands it back with every match", () => {
    const apis = specs([{ name: "a", path: "/a", backend: "b" }, { name: "c", path: "/c", hosts: ["x.example.com", "y.example.com"], backend: "b" }]);
    const attached: string[] = [];
    const r = new Router(apis, (api) => {
      attached.push(api.name);
      return { id: api.name };
    });
    assert.deepEqual(attached, ["a", "c"]);
    const first = hit(r.match("x.example.com", "GET", "/c/1"));
    const second = hit(r.match("y.example.com", "GET", "/c/2"));
    assert.equal(first.api, second.api);
    assert.deepEqual(first.api.target, { id: "c" });
    assert.equal(first.api.prefix, "/c");
    assert.equal(first.api.name, "c");
  });
});
