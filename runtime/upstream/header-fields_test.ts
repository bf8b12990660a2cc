import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { upstreamRequestHeaders } from "../proxy/headers.ts";
import { HeaderFields, type OutgoingHeaders } from "./header-fields.ts";

/** Every field as `forEach` gives it, sorted, to compare a HeaderFields with web Headers. */
function listed(headers: OutgoingHeaders): string[] {
  const out: string[] = [];
  headers.forEach((value, name) => out.push(`${name}: ${value}`));
  return out.sort();
}

describe("backend request headers as a record (HeaderFields)", () => {
  it("answers get, has and forEach as web Headers do after the same operations", () => {
    const web = new Headers();
    const fields = new HeaderFields();
    for (const headers of [web, fields] as OutgoingHeaders[]) {
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
});
