import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ROOT } from "../../test/harness.ts";
import type { PolicyExchange } from "./abi.ts";
import { PolicyModuleCache, PolicyPlugin } from "./extism.ts";

const cache = new PolicyModuleCache();
const setHeader = () => cache.compile(readFileSync(`${ROOT}policies-wasm/dist/builtins/set-header.wasm`));

function exchange(request: Record<string, string> = {}, response?: Record<string, string>): PolicyExchange {
  return { method: "GET", path: "/x", requestHeaders: new Headers(request), responseHeaders: response && new Headers(response) };
}

async function run(config: Record<string, string>, hook: "on_request" | "on_response", ex: PolicyExchange): Promise<PolicyExchange> {
  const plugin = await PolicyPlugin.create(await setHeader(), { config });
  try {
    await plugin.call(hook, ex);
    return ex;
  } finally {
    await plugin.close();
  }
}

describe("set-header (built-in, compiled from the AssemblyScript SDK)", () => {
  it("overrides a request header by default, and adds it when absent", async () => {
    const ex = await run({ name: "x-tenant", value: "acme" }, "on_request", exchange({ "x-tenant": "other" }));
    assert.equal(ex.requestHeaders.get("x-tenant"), "acme");
    const fresh = await run({ name: "x-tenant", value: "acme" }, "on_request", exchange());
    assert.equal(fresh.requestHeaders.get("x-tenant"), "acme");
  });

  it("skips, appends and deletes as exists-action says", async () => {
    const skip = await run({ name: "x-a", value: "new", "exists-action": "skip" }, "on_request", exchange({ "x-a": "old" }));
    assert.equal(skip.requestHeaders.get("x-a"), "old");
    const append = await run({ name: "x-a", value: "new", "exists-action": "append" }, "on_request", exchange({ "x-a": "old" }));
    assert.equal(append.requestHeaders.get("x-a"), "old, new");
    const del = await run({ name: "x-a", "exists-action": "delete" }, "on_request", exchange({ "x-a": "old", "x-b": "kept" }));
    assert.equal(del.requestHeaders.get("x-a"), null);
    assert.equal(del.requestHeaders.get("x-b"), "kept");
  });

  it("works on the response in on_response, leaving the request alone", async () => {
    const ex = await run({ name: "x-served-by", value: "portico" }, "on_response", exchange({ "x-served-by": "client" }, { "content-type": "text/plain" }));
    assert.equal(ex.responseHeaders!.get("x-served-by"), "portico");
    assert.equal(ex.requestHeaders.get("x-served-by"), "client");
  });

  it("carries long values intact through the SDK's UTF-8 blocks", async () => {
    const value = "v=".padEnd(4_000, "x") + ";end";
    const ex = await run({ name: "x-long", value }, "on_request", exchange());
    assert.equal(ex.requestHeaders.get("x-long"), value);
  });

  it("fails the call (for the failure policy to handle) when a required parameter is missing", async () => {
    await assert.rejects(run({ value: "no name" }, "on_request", exchange()));
  });

  it("serves 20,000 exchanges on one instance without growing out of memory", { timeout: 120_000 }, async () => {
    const plugin = await PolicyPlugin.create(await setHeader(), { config: { name: "x-n", value: "1" } });
    try {
      for (let i = 0; i < 20_000; i++) {
        const ex = exchange({ "x-n": String(i) });
        await plugin.call("on_request", ex);
        assert.equal(ex.requestHeaders.get("x-n"), "1");
      }
    } finally {
      await plugin.close();
    }
  });
});
