import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { errorReason, postOtlp, retryAfter } from "./transport.ts";

describe("postOtlp", () => {
  let server: Server;
  let base = "";
  const hung: { end(): void }[] = [];
  before(async () => {
    server = createServer((request, response) => {
      request.resume();
      const status = Number(request.url!.slice(1));
      if (status === 0) return void hung.push(response); // never answers
      response.writeHead(status, status === 429 ? { "retry-after": "7" } : {});
      response.end(status === 200 ? "ok" : "");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const response of hung) response.end();
    await new Promise((resolve) => server.close(resolve));
  });

  const post = (path: string, timeoutMs = 2_000) =>
    postOtlp({ url: `${base}${path}`, contentType: "application/x-protobuf", headers: {}, timeoutMs, fetch: globalThis.fetch }, new Uint8Array([1, 2]));

  it("classifies answers: 2xx sent, 429 and 5xx to retry (with Retry-After), other 4xx refused, no answer a timeout", async () => {
    assert.deepEqual(await post("/200"), { kind: "ok", body: new TextEncoder().encode("ok") });
    assert.deepEqual(await post("/204"), { kind: "ok", body: undefined });
    assert.deepEqual(await post("/429"), { kind: "retry", reason: "status 429", retryAfterMs: 7_000 });
    assert.deepEqual(await post("/503"), { kind: "retry", reason: "status 503", retryAfterMs: undefined });
    assert.deepEqual(await post("/500"), { kind: "retry", reason: "status 500", retryAfterMs: undefined });
    assert.deepEqual(await post("/400"), { kind: "reject", reason: "status 400" });
    assert.deepEqual(await post("/413"), { kind: "reject", reason: "status 413" });
    assert.deepEqual(await post("/0", 200), { kind: "retry", reason: "timeout after 200 ms", retryAfterMs: undefined });
  });
});

describe("retryAfter and errorReason", () => {
  it("reads Retry-After as seconds or a date", () => {
    assert.equal(retryAfter(null), undefined);
    assert.equal(retryAfter("3"), 3_000);
    assert.equal(retryAfter("soon"), undefined);
    const inTenSeconds = new Date(Date.now() + 10_000).toUTCString();
    const ms = retryAfter(inTenSeconds)!;
    assert.ok(ms > 8_000 && ms <= 10_000, String(ms));
  });

  it("names an error by name and code, never by its message (which may quote a header value)", () => {
    const error = new TypeError('Headers.append: "Bearer s3cr3t" is an invalid header value.');
    assert.equal(errorReason(error), "request failed (TypeError)");
    assert.equal(errorReason(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })), "request failed (Error ECONNREFUSED)");
    assert.equal(
      errorReason(new TypeError("fetch failed", { cause: Object.assign(new Error("x"), { code: "ECONNRESET" }) })),
      "request failed (TypeError ECONNRESET)",
    );
    assert.equal(
      errorReason(new TypeError("client error (Connect): tcp connect error: Connection refused (os error 111)")),
      "request failed (TypeError ECONNREFUSED)",
    );
  });
});
