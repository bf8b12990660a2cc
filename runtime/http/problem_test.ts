import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HttpProblem, problemBody, problemHeaders, problemResponse } from "./problem.ts";

describe("problem+json (RFC 9457), the one module that builds every problem response", () => {
  it("writes type, title, status and detail in that order, then the extension members", () => {
    const body = problemBody({
      kind: "control-plane:unauthorized",
      title: "The token was refused",
      status: 401,
      detail: "gateway token refused: expired",
      extensions: { reason: "expired" },
    });
    assert.equal(
      body,
      '{"type":"urn:portico:problem:control-plane:unauthorized","title":"The token was refused","status":401,"detail":"gateway token refused: expired","reason":"expired"}',
    );
  });

  it("leaves detail out when there is none, and sends an empty one as given", () => {
    assert.equal(problemBody({ kind: "no-route", title: "T", status: 404 }), '{"type":"urn:portico:problem:no-route","title":"T","status":404}');
    assert.equal(
      problemBody({ kind: "policy-rejected", title: "T", status: 400, detail: "" }),
      '{"type":"urn:portico:problem:policy-rejected","title":"T","status":400,"detail":""}',
    );
  });

  it("does not let an extension member replace a standard one", () => {
    const extensions = { type: "about:blank", status: 200, detail: "forged", reason: "kept" } as unknown as Record<string, never>;
    assert.deepEqual(JSON.parse(problemBody({ kind: "x", title: "T", status: 403, extensions })), {
      type: "urn:portico:problem:x",
      title: "T",
      status: 403,
      reason: "kept",
    });
  });

  it("escapes text as JSON, control characters included, so the body always parses", () => {
    const detail = 'say "no" \\ \n\t\u0001 é 😀 </script>';
    const body = problemBody({ kind: "x", title: "T", status: 400, detail });
    assert.equal(JSON.parse(body).detail, detail);
    assert.ok(body.includes("\\u0001"), body);
  });

  it("sends problem+json with no-store, then the problem's own headers, which may override them", async () => {
    const res = problemResponse({ kind: "rate-limited", title: "T", status: 429, detail: "d", headers: { "retry-after": "7" } });
    assert.equal(res.status, 429);
    assert.deepEqual([...res.headers], [["cache-control", "no-store"], ["content-type", "application/problem+json"], ["retry-after", "7"]]);
    assert.equal(await res.text(), '{"type":"urn:portico:problem:rate-limited","title":"T","status":429,"detail":"d"}');
    assert.equal(problemHeaders({ kind: "x", title: "T", status: 500, headers: { "Cache-Control": "private" } }).get("cache-control"), "private");
  });

  it("HttpProblem answers with its kind's status and title, its detail (an empty one left out) and its headers, never the internal reason", async () => {
    const res = new HttpProblem("backend-busy", { detail: "try later", headers: { "retry-after": "1" }, internal: "gate of backend orders is full" })
      .toResponse();
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "1");
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(
      await res.text(),
      '{"type":"urn:portico:problem:backend-busy","title":"The backend is at its concurrency limit","status":503,"detail":"try later"}',
    );
    const empty = new HttpProblem("bad-request", { detail: "" }).toResponse();
    assert.deepEqual(await empty.json(), { type: "urn:portico:problem:bad-request", title: "The request is malformed", status: 400 });
  });
});
