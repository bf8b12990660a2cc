import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ROOT } from "../../test/harness.ts";
import { ABI_VERSION, failureOf, MAX_UNUSED_MODULES, PolicyModuleCache, PolicyModuleError, PolicyPlugin } from "./extism.ts";

/** A fixture compiled from source by `policies-wasm/build.ts` (run by `npm test` first). */
function fixture(name: string): Uint8Array {
  return readFileSync(`${ROOT}policies-wasm/dist/fixtures/${name}.wasm`);
}

describe("Extism policy host", () => {
  it("makes 20,000 calls on one instance, all reaching the same guest state", { timeout: 120_000 }, async () => {
    const cache = new PolicyModuleCache();
    const plugin = await PolicyPlugin.create(await cache.compile(fixture("counter")));
    try {
      for (let i = 0; i < 20_000; i++) await plugin.call("on_request");
      await plugin.call("expect_20000");
      await plugin.call("on_request");
      await assert.rejects(plugin.call("expect_20000"), "one more call is seen by the guest too");
    } finally {
      await plugin.close();
    }
  });

  it("answers a call synchronously, lets each call's Extism memory go before the next, and keeps Extism's error, input and output functions", async () => {
    const plugin = await PolicyPlugin.create(await new PolicyModuleCache().compile(fixture("extism-env")));
    try {
      // 1 MiB of Extism memory held to the end of each call: the fifth would pass the 4 MiB a call may hold if blocks outlived their call.
      for (let i = 0; i < 50; i++) assert.equal(typeof plugin.callNow("hold_a_mebibyte"), "number", `call ${i + 1}`);
      assert.throws(() => plugin.callNow("on_request"), (error: Error) => {
        assert.equal(error.message, "Plugin-originated error: the guest says no");
        assert.equal(failureOf(error).kind, "guest-error");
        assert.ok(failureOf(error).fuel > 0);
        return true;
      });
      // The error does not outlive its call: on_request traps if error_get sees one at its start.
      await assert.rejects(plugin.call("on_request"), /the guest says no/);
      assert.equal(typeof plugin.callNow("on_response", { method: "GET", path: "/", requestHeaders: new Headers(), responseHeaders: new Headers() }), "number");
      assert.throws(() => plugin.callNow("on_error"), (error: Error) => /no function "on_error"/.test(error.message) && failureOf(error).kind === "host-error");
    } finally {
      await plugin.close();
    }
  });

  it("compiles a module once per sha256 digest and lists its hooks", async () => {
    const cache = new PolicyModuleCache();
    const bytes = fixture("counter");
    const [a, b] = await Promise.all([cache.compile(bytes), cache.compile(Uint8Array.from(bytes))]);
    assert.equal(a, b);
    assert.equal(cache.size, 1);
    assert.match(a.digest, /^[0-9a-f]{64}$/);
    assert.deepEqual([...a.hooks], ["on_request"]);
  });

  it("refuses bytes whose sha256 is not the one configured", async () => {
    const cache = new PolicyModuleCache();
    await assert.rejects(cache.compile(fixture("counter"), "0".repeat(64)), (error: Error) => {
      assert.ok(error instanceof PolicyModuleError);
      assert.match(error.message, /sha256 mismatch: the configuration says 0{64}, the module is [0-9a-f]{64}/);
      return true;
    });
    assert.equal(cache.size, 0);
  });

  it("implements ABI 1.4, the version the SDK declares", () => {
    assert.equal(ABI_VERSION, 0x10004);
    assert.match(readFileSync(`${ROOT}policies-wasm/sdk/index.ts`, "utf8"), /export function portico_abi_version\(\): i32 \{\n {2}return 0x10004;\n\}/);
  });

  it("refuses a module built for a later minor ABI version (1.9), and runs modules built for 1.0 and 1.2 on this 1.4 host", async () => {
    const cache = new PolicyModuleCache();
    await assert.rejects(PolicyPlugin.create(await cache.compile(fixture("abi-v1-later"))), /built for policy ABI 1\.9; this gateway implements 1\.4/);
    // The counter fixture declares 1.0.
    const plugin = await PolicyPlugin.create(await cache.compile(fixture("counter")));
    await plugin.call("on_request");
    await plugin.close();
    // The error-probe fixture declares 1.2 and imports no 1.3 or 1.4 function.
    const older = await cache.compile(fixture("error-probe"));
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(fixture("error-probe") as Uint8Array<ArrayBuffer>)).map((i) => i.name);
    assert.ok(imports.includes("portico_last_error") && !imports.includes("portico_reply_problem"), imports.join(", "));
    const probe = await PolicyPlugin.create(older);
    const headers = new Headers();
    await probe.call("on_error", {
      method: "GET",
      path: "/",
      requestHeaders: new Headers(),
      responseHeaders: headers,
      lastError: { source: "backend", reason: "backend-timeout", message: "", status: "504", policy: "p" },
    });
    assert.equal(headers.get("x-last-error"), "backend/backend-timeout/504/p");
    await probe.close();
  });

  it("refuses a module built for another major ABI version, with both versions named", async () => {
    const module = await new PolicyModuleCache().compile(fixture("abi-v2"));
    await assert.rejects(PolicyPlugin.create(module), /built for policy ABI 2\.0; this gateway implements 1\.4/);
  });

  it("refuses modules that are not Portico policies, or not WebAssembly at all", async () => {
    const cache = new PolicyModuleCache();
    await assert.rejects(cache.compile(fixture("no-abi")), /does not export portico_abi_version/);
    await assert.rejects(cache.compile(new TextEncoder().encode("not wasm")), /not a WebAssembly module/);
    assert.equal(cache.size, 0, "failed compiles are not kept");
  });
});

describe("PolicyModuleCache bounds", () => {
  /** The counter fixture compiled for a given fuel budget: each budget is its own compiled module. */
  const withFuel = (cache: PolicyModuleCache, fuel: number) => cache.compile(fixture("counter"), undefined, { fuel, memoryBytes: 16 * 1024 * 1024 });

  it("drops every compiled module the configuration that goes live does not use", async () => {
    const cache = new PolicyModuleCache();
    const [kept, dropped] = await Promise.all([withFuel(cache, 1), withFuel(cache, 2), withFuel(cache, 3)]);
    cache.retain(new Set([kept!.key]));
    assert.equal(cache.size, 1);
    assert.equal(cache.evictions, 2);
    assert.equal(await withFuel(cache, 1), kept, "a live module is not compiled again");
    assert.notEqual(await withFuel(cache, 2), dropped, "a dropped module is compiled again when asked for");
  });

  it("keeps at most MAX_UNUSED_MODULES unused ones between swaps, least recently used out, and never a live one", async () => {
    const cache = new PolicyModuleCache();
    const live = await withFuel(cache, 1_000);
    cache.retain(new Set([live.key]));
    const unused = [];
    for (let fuel = 1; fuel <= MAX_UNUSED_MODULES + 4; fuel++) unused.push(await withFuel(cache, fuel));
    assert.equal(cache.size, 1 + MAX_UNUSED_MODULES);
    assert.equal(cache.evictions, 4);
    assert.equal(await withFuel(cache, 1_000), live);
    assert.equal(await withFuel(cache, MAX_UNUSED_MODULES + 4), unused.at(-1), "the most recent unused ones are kept");
    assert.notEqual(await withFuel(cache, 1), unused[0], "the oldest went");
  });

  it("keeps built-in modules whatever goes live, outside the count of custom ones", async () => {
    const cache = new PolicyModuleCache();
    const builtin = await cache.builtin("counter", () => fixture("counter"));
    cache.retain(new Set());
    assert.equal(cache.size, 0);
    assert.equal(cache.compiled, 1);
    assert.equal(await cache.builtin("counter", () => assert.fail("read again")), builtin);
  });
});
