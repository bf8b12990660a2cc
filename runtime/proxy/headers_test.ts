import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { clientResponseHeaders, isEndToEnd, upstreamRequestHeaders } from "./headers.ts";

const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];
const CLIENT = { ip: "203.0.113.7", proto: "https" } as const;

/** Headers as a plain object (names lower-case), for deepEqual. */
function plain(headers: Headers): Record<string, string> {
  return Object.fromEntries(headers.entries());
}

function hopByHopRequest(): Headers {
  return new Headers({
    host: "api.example.com",
    connection: "keep-alive, X-Internal-Hop, x-other-hop",
    "keep-alive": "timeout=5",
    "proxy-connection": "keep-alive",
    "proxy-authenticate": "Basic",
    "proxy-authorization": "Basic Zm9vOmJhcg==",
    te: "trailers",
    trailer: "x-checksum",
    "transfer-encoding": "chunked",
    upgrade: "websocket",
    "x-internal-hop": "1",
    "x-other-hop": "2",
    authorization: "Bearer abc",
    "content-type": "application/json",
    cookie: "a=1; b=2",
  });
}

describe("upstreamRequestHeaders: hop-by-hop headers", () => {
  it("removes every hop-by-hop header and every header the Connection header names", () => {
    const out = upstreamRequestHeaders(hopByHopRequest(), CLIENT);
    for (const name of [...HOP_BY_HOP, "x-internal-hop", "x-other-hop"]) assert.equal(out.has(name), false, name);
  });

  it("keeps end-to-end headers as they were", () => {
    const out = upstreamRequestHeaders(hopByHopRequest(), CLIENT);
    assert.equal(out.get("authorization"), "Bearer abc");
    assert.equal(out.get("content-type"), "application/json");
    assert.equal(out.get("cookie"), "a=1; b=2");
  });

  it("keeps a header sent several times with all its values, and a browser's ten headers as they were", () => {
    const incoming = new Headers({
      host: "api.example.com",
      "user-agent": "Mozilla/5.0 (X11; Linux x86_64)",
      "accept-language": "en-US,en;q=0.9",
      "accept-encoding": "gzip, br",
      authorization: "Bearer abc",
      "content-type": "application/json",
      cookie: "a=1",
      referer: "https://example.com/x",
      "x-request-id": "r-1",
    });
    incoming.append("accept", "application/json");
    incoming.append("accept", "text/plain");
    const out = upstreamRequestHeaders(incoming, CLIENT);
    assert.equal(out.get("accept"), "application/json, text/plain");
    for (const [name, value] of incoming) if (name !== "host") assert.equal(out.get(name), value, name);
    assert.equal(out.get("x-forwarded-host"), "api.example.com");
  });

  it("reads a Connection header sent several times", () => {
    const incoming = new Headers();
    incoming.append("connection", "x-a");
    incoming.append("connection", " X-B ,, ");
    incoming.set("x-a", "1");
    incoming.set("x-b", "2");
    incoming.set("x-c", "3");
    const out = upstreamRequestHeaders(incoming, CLIENT);
    assert.equal(out.has("x-a"), false);
    assert.equal(out.has("x-b"), false);
    assert.equal(out.get("x-c"), "3");
  });

  it("does not change the incoming headers", () => {
    const incoming = hopByHopRequest();
    const before = plain(incoming);
    upstreamRequestHeaders(incoming, CLIENT);
    assert.deepEqual(plain(incoming), before);
  });
});

describe("upstreamRequestHeaders: forwarding headers", () => {
  it("drops Host and sets X-Forwarded-For/-Proto/-Host and Forwarded", () => {
    const out = upstreamRequestHeaders(new Headers({ host: "api.example.com", accept: "*/*" }), { ip: "198.51.100.4", proto: "http" });
    assert.deepEqual(plain(out), {
      accept: "*/*",
      "accept-encoding": "identity",
      forwarded: "for=198.51.100.4;proto=http;host=api.example.com",
      "x-forwarded-for": "198.51.100.4",
      "x-forwarded-host": "api.example.com",
      "x-forwarded-proto": "http",
    });
  });

  it("replaces forwarding headers the client sent instead of trusting or extending them", () => {
    const out = upstreamRequestHeaders(
      new Headers({
        host: "api.example.com",
        "x-forwarded-for": "10.0.0.1, 127.0.0.1",
        "x-forwarded-proto": "http",
        "x-forwarded-host": "admin.internal",
        forwarded: "for=127.0.0.1;proto=https;host=admin.internal",
      }),
      CLIENT,
    );
    assert.equal(out.get("x-forwarded-for"), "203.0.113.7");
    assert.equal(out.get("x-forwarded-proto"), "https");
    assert.equal(out.get("x-forwarded-host"), "api.example.com");
    assert.equal(out.get("forwarded"), "for=203.0.113.7;proto=https;host=api.example.com");
  });

  it("drops every other X-Forwarded-* header the client sent", () => {
    const out = upstreamRequestHeaders(
      new Headers({
        host: "a.example.com",
        "x-forwarded-port": "443",
        "X-Forwarded-Prefix": "/admin",
        "x-forwarded-server": "trusted",
        "x-forwarded-ssl": "on",
      }),
      CLIENT,
    );
    for (const name of ["x-forwarded-port", "x-forwarded-prefix", "x-forwarded-server", "x-forwarded-ssl"]) assert.equal(out.has(name), false, name);
  });

  it("sends no host when the request had none, even if the client claimed one", () => {
    const out = upstreamRequestHeaders(new Headers({ "x-forwarded-host": "evil.example" }), CLIENT);
    assert.equal(out.has("x-forwarded-host"), false);
    assert.equal(out.get("forwarded"), "for=203.0.113.7;proto=https");
  });

  it("quotes and brackets an IPv6 client in Forwarded, and leaves X-Forwarded-For plain", () => {
    const out = upstreamRequestHeaders(new Headers({ host: "api.example.com" }), { ip: "2001:db8::1", proto: "https" });
    assert.equal(out.get("forwarded"), 'for="[2001:db8::1]";proto=https;host=api.example.com');
    assert.equal(out.get("x-forwarded-for"), "2001:db8::1");
  });

  it("quotes a host with a port in Forwarded, and keeps it as sent in X-Forwarded-Host", () => {
    const out = upstreamRequestHeaders(new Headers({ host: "api.example.com:8443" }), CLIENT);
    assert.equal(out.get("forwarded"), 'for=203.0.113.7;proto=https;host="api.example.com:8443"');
    assert.equal(out.get("x-forwarded-host"), "api.example.com:8443");
    const v6 = upstreamRequestHeaders(new Headers({ host: "[::1]:8080" }), { ip: "::1", proto: "http" });
    assert.equal(v6.get("forwarded"), 'for="[::1]";proto=http;host="[::1]:8080"');
  });

  it("gives each host its own Forwarded value when hosts alternate (the last answer is remembered)", () => {
    const hosts = ["api.example.com", "api.example.com:8443", "api.example.com", "[::1]:8080", "[::1]:8080", "api.example.com:8443"];
    const expected = [
      "host=api.example.com",
      'host="api.example.com:8443"',
      "host=api.example.com",
      'host="[::1]:8080"',
      'host="[::1]:8080"',
      'host="api.example.com:8443"',
    ];
    assert.deepEqual(hosts.map((host) => upstreamRequestHeaders(new Headers({ host }), CLIENT).get("forwarded")!.split(";")[2]), expected);
  });
});

describe("upstreamRequestHeaders: Accept-Encoding", () => {
  it("asks for identity when the client named no encoding", () => {
    assert.equal(upstreamRequestHeaders(new Headers({ host: "a" }), CLIENT).get("accept-encoding"), "identity");
  });

  it("keeps the client's choice when it made one", () => {
    assert.equal(upstreamRequestHeaders(new Headers({ "accept-encoding": "gzip, br" }), CLIENT).get("accept-encoding"), "gzip, br");
    assert.equal(upstreamRequestHeaders(new Headers({ "accept-encoding": "identity" }), CLIENT).get("accept-encoding"), "identity");
  });
});

describe("clientResponseHeaders", () => {
  it("removes hop-by-hop headers and those the Connection header names, and keeps the rest", () => {
    const upstream = new Headers({
      connection: "close, x-backend-hop",
      "keep-alive": "timeout=5",
      "transfer-encoding": "chunked",
      upgrade: "h2c",
      trailer: "x-sum",
      "proxy-authenticate": "Basic",
      "x-backend-hop": "1",
      "content-type": "text/plain",
      "cache-control": "no-store",
    });
    upstream.append("set-cookie", "a=1; Path=/");
    upstream.append("set-cookie", "b=2; Path=/");
    const out = clientResponseHeaders(upstream);
    for (const name of [...HOP_BY_HOP, "x-backend-hop"]) assert.equal(out.has(name), false, name);
    assert.equal(out.get("content-type"), "text/plain");
    assert.equal(out.get("cache-control"), "no-store");
    assert.deepEqual(out.getSetCookie(), ["a=1; Path=/", "b=2; Path=/"]);
    assert.equal(upstream.get("connection"), "close, x-backend-hop", "the backend's headers are left alone");
  });
});

describe("upstreamRequestHeaders and Expect", () => {
  it("does not forward Expect: 100-continue, which the listener already answered", () => {
    const out = upstreamRequestHeaders(new Headers({ expect: "100-continue", "content-length": "5" }), { ip: "127.0.0.1", proto: "http" });
    assert.equal(out.get("expect"), null);
    assert.equal(out.get("content-length"), "5");
  });
});

describe("isEndToEnd", () => {
  it("is true only when no hop-by-hop header is present", () => {
    assert.equal(isEndToEnd(new Headers({ "content-type": "text/plain", "content-length": "2" })), true);
    for (const name of HOP_BY_HOP) assert.equal(isEndToEnd(new Headers({ [name]: "x" })), false, name);
  });
});
