import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ROOT } from "../../test/harness.ts";
import type { PolicyExchange } from "./abi.ts";
import { PolicyModuleCache, PolicyPlugin } from "./extism.ts";

const cache = new PolicyModuleCache();
const checkHeader = () => cache.compile(readFileSync(`${ROOT}policies-wasm/dist/builtins/check-header.wasm`));

/** Runs check-header with `config` on a request with `headers`: the reply it gave, or undefined when the request goes on. */
async function run(
  config: Record<string, string>,
  headers: [string, string][],
): Promise<{ status: number; type: string; body: Record<string, unknown> } | undefined> {
  const plugin = await PolicyPlugin.create(await checkHeader(), { config });
  try {
    const ex: PolicyExchange = { method: "GET", path: "/x", requestHeaders: new Headers(headers), responseHeaders: undefined };
    await plugin.call("on_request", ex);
    if (!ex.reply) return undefined;
    return { status: ex.reply.status, type: ex.reply.headers.get("content-type") ?? "", body: JSON.parse(ex.reply.body) };
  } finally {
    await plugin.close();
  }
}

const KEYS = { name: "x-api-key", values: "Key-One\nkey-two" };

describe("check-header (built-in): what it accepts and how it refuses", () => {
  it("accepts a listed value and refuses an unlisted, a missing or a partial one with failed-check-httpcode and the message", async () => {
    const config = { ...KEYS, "failed-check-httpcode": "401", "failed-check-error-message": 'Missing or "wrong" key' };
    assert.equal(await run(config, [["x-api-key", "key-two"]]), undefined);
    assert.equal(await run(config, [["x-api-key", "Key-One"]]), undefined);
    for (
      const headers of [[], [["x-api-key", "key-three"]], [["x-api-key", "key-tw"]], [["x-api-key", "key-twoo"]], [["x-api-key", "key-One"]]] as [
        string,
        string,
      ][][]
    ) {
      const reply = await run(config, headers);
      assert.equal(reply?.status, 401, JSON.stringify(headers));
      assert.equal(reply.type, "application/problem+json");
      assert.deepEqual(reply.body, {
        type: "urn:portico:problem:policy-rejected",
        title: "A policy rejected the request",
        status: 401,
        detail: 'Missing or "wrong" key',
      });
    }
  });

  it("ignores case when asked, on both the header and the listed values", async () => {
    const config = { ...KEYS, "ignore-case": "true" };
    assert.equal(await run(config, [["x-api-key", "KEY-ONE"]]), undefined);
    assert.equal(await run(config, [["x-api-key", "key-one"]]), undefined);
    assert.equal((await run(config, [["x-api-key", "KEY-THREE"]]))?.status, 400);
  });

  it("accepts a header sent several times when any one of its values is listed, each trimmed", async () => {
    assert.equal(await run(KEYS, [["x-api-key", "nope"], ["x-api-key", "key-two"]]), undefined);
    assert.equal(await run(KEYS, [["x-api-key", "nope,  key-two  "]]), undefined);
    assert.equal((await run(KEYS, [["x-api-key", "nope"], ["x-api-key", "also-nope"]]))?.status, 400);
  });

  it("without values, accepts any value and refuses only a missing header (default status 400)", async () => {
    assert.equal(await run({ name: "x-tenant" }, [["x-tenant", "anything"]]), undefined);
    assert.equal(await run({ name: "x-tenant" }, [["x-tenant", ""]]), undefined);
    const reply = await run({ name: "x-tenant" }, []);
    assert.equal(reply?.status, 400);
    assert.equal(reply.body.detail, "");
  });
});
