import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { upstreamRequestHeaders } from "../proxy/headers.ts";
import { HeaderFields, type IncomingHeaders, MAX_LISTED_FIELDS, rawHeaderList } from "./header-fields.ts";

/** Every field as `forEach` gives it, sorted, to compare a HeaderFields with web Headers. */
function listed(headers: IncomingHeaders): string[] {
  const out: string[] = [];
  headers.forEach((value, name) => out.push(`${name}: ${value}`));
  return out.sort();
}

describe("backend request headers: HeaderFields records, and the client's fields as parsed (RawHeaderList)", () => {
  it("answers get, has and forEach as web Headers do after the same operations", () => {
    const web = new Headers();
    const fields = new HeaderFields();
    for (const headers of [web, fields]) {
      headers.append("Accept", "text/html");
      headers.append("accept", "application/json");
      headers.set("X-Trace", "1");
      headers.set("x-trace", "2");
      headers.append("set-cookie", "a=1");
      headers.append("set-cookie", "b=2");
      headers.set("gone", "x");
      headers.delete("GONE");
    }
    for (const name of ["accept", "ACCEPT", "x-trace", "gone", "absent"]) {
      assert.equal(fields.get(name), web.get(name), name);
      assert.equal(fields.has(name), web.has(name), name);
    }
    assert.deepEqual(listed(fields), listed(web));
    assert.deepEqual(fields.fields.accept, ["text/html", "application/json"], "a repeated field goes to undici value by value");
  });

  it("keeps a client's __proto__ header as a field, not as the record's prototype", () => {
    const fields = new HeaderFields();
    fields.append("__proto__", "x");
    assert.equal(fields.get("__proto__"), "x");
    assert.equal(Object.getPrototypeOf(fields.fields), null);
    assert.deepEqual(Object.keys(fields.fields), ["__proto__"]);
  });

  it("gets the same backend headers from the proxy as web Headers do", () => {
    const incoming = new Headers({
      host: "api.example",
      connection: "keep-alive, x-hop",
      "x-hop": "1",
      "x-forwarded-for": "10.9.9.9",
      cookie: "a=1",
      accept: "*/*",
    });
    const client = { ip: "192.0.2.7", proto: "https", chain: ["198.51.100.1"] };
    const web = upstreamRequestHeaders(incoming, client);
    const fields = upstreamRequestHeaders(incoming, client, new HeaderFields());
    assert.deepEqual(listed(fields), listed(web));
    assert.equal(fields.get("x-forwarded-for"), "192.0.2.7, 198.51.100.1");
    assert.equal(fields.get("x-hop"), null);
  });

  it("reads the client's fields as parsed (rawHeaders) as web Headers built from them read", () => {
    const raw = ["Host", "api.example", "X-Mixed-Case", "Value  with  inner  spaces", "ACCEPT", "*/*", "Cookie", "a=1; b=2", "__proto__", "p"];
    const list = rawHeaderList(raw)!;
    const web = new Headers();
    for (let i = 0; i < raw.length; i += 2) web.append(raw[i]!, raw[i + 1]!);
    assert.deepEqual(listed(list), listed(web));
    for (const name of ["host", "X-MIXED-CASE", "accept", "cookie", "__proto__", "absent"]) assert.equal(list.get(name), web.get(name), name);
  });

  it("leaves to web Headers the fields they would change (a repeated name, a value with whitespace around it or a CR, LF or NUL) and more than it is for", () => {
    assert.equal(rawHeaderList(["Accept", "a", "accept", "b"]), undefined, "web Headers join a repeated field's values");
    for (const value of [" lead", "trail\t", "a\rb", "a\nb", "a\u0000b"]) assert.equal(rawHeaderList(["x-v", value]), undefined, JSON.stringify(value));
    assert.notEqual(rawHeaderList(["x-v", "in\tside"]), undefined, "whitespace inside a value is kept as it is");
    const many = (count: number) => Array.from({ length: count }, (_, i) => [`x-f${i}`, "v"]).flat();
    assert.notEqual(rawHeaderList(many(MAX_LISTED_FIELDS)), undefined);
    assert.equal(rawHeaderList(many(MAX_LISTED_FIELDS + 1)), undefined, "more fields than the list is for go to web Headers");
  });

  it("gets the same backend headers from the proxy reading the parsed fields as reading web Headers", () => {
    const raw = [
      "Host",
      "api.example",
      "Connection",
      "keep-alive, X-Hop",
      "x-hop",
      "1",
      "X-Forwarded-Port",
      "99",
      "Accept-Encoding",
      "br",
      "Expect",
      "100-continue",
      "Accept",
      "*/*",
    ];
    const web = new Headers();
    for (let i = 0; i < raw.length; i += 2) web.append(raw[i]!, raw[i + 1]!);
    const client = { ip: "192.0.2.7", proto: "https", host: "api.example" };
    const fromRaw = upstreamRequestHeaders(rawHeaderList(raw)!, client, new HeaderFields());
    assert.deepEqual(listed(fromRaw), listed(upstreamRequestHeaders(web, client, new HeaderFields())));
    for (const name of ["connection", "x-hop", "x-forwarded-port", "expect", "host"]) assert.equal(fromRaw.get(name), null, name);
    assert.equal(fromRaw.get("accept-encoding"), "br");
    assert.equal(fromRaw.get("x-forwarded-host"), "api.example");
  });
});
