import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import { ROOT } from "../../test/harness.ts";
import { builtinPolicyConfig } from "../../config/schema/policies.ts";
import type { PolicyExchange } from "./abi.ts";
import { GuestStrings } from "./guest-strings.ts";
import { PolicyModuleCache, PolicyPlugin } from "./extism.ts";
import { MemoryStateStore } from "./state.ts";

const encoder = new TextEncoder();

/** Writes `text` as UTF-8 at `pointer` and answers its length in bytes. */
function put(memory: Uint8Array, pointer: number, text: string): number {
  const bytes = encoder.encode(text);
  memory.set(bytes, pointer);
  return bytes.length;
}

describe("GuestStrings (strings passed by reference, decoded once per place)", () => {
  it("answers what the bytes say now: the same place with other bytes, another length, or a colliding place", () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const strings = new GuestStrings();
    const bytes = strings.bytes(memory);
    let length = put(bytes, 64, "x-chain-1");
    assert.equal(strings.text(bytes, 64, length), "x-chain-1");
    assert.equal(strings.text(bytes, 64, length), "x-chain-1");
    // Same place, same length, one byte changed: never the remembered string.
    length = put(bytes, 64, "x-chain-2");
    assert.equal(strings.text(bytes, 64, length), "x-chain-2");
    // Same place, shorter: the prefix is not taken for the whole.
    assert.equal(strings.text(bytes, 64, 7), "x-chain");
    // 64 + 32 * 16 falls on the same place as 64.
    const other = 64 + 32 * 16;
    const otherLength = put(bytes, other, "élan ✓");
    assert.equal(strings.text(bytes, other, otherLength), "élan ✓");
    assert.equal(strings.text(bytes, 64, length), "x-chain-2");
    // Longer than what is kept: decoded every time, and right.
    const long = "v".repeat(300);
    const longLength = put(bytes, 4096, long);
    assert.equal(strings.text(bytes, 4096, longLength), long);
    put(bytes, 4096, "w");
    assert.equal(strings.text(bytes, 4096, longLength), "w" + "v".repeat(299));
  });

  it("views the memory again after it grows, and only then", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
    const strings = new GuestStrings();
    const first = strings.bytes(memory);
    assert.equal(strings.bytes(memory), first);
    assert.equal(first.length, 65_536);
    memory.grow(1);
    const grown = strings.bytes(memory);
    assert.notEqual(grown, first);
    assert.equal(grown.length, 131_072);
    const length = put(grown, 70_000, "past the first page");
    assert.equal(strings.text(grown, 70_000, length), "past the first page");
  });
});

describe("GuestStrings under a real policy (rate-limit-by-key, keys built per request)", () => {
  const cache = new PolicyModuleCache();
  const plugins: PolicyPlugin[] = [];
  after(async () => {
    for (const plugin of plugins) await plugin.close();
  });

  it("counts keys of the same length apart, also once the guest builds them in places it used before", async () => {
    const config = builtinPolicyConfig("rate-limit-by-key", { calls: 1, "renewal-period": 60, "counter-key": "{request.header.x-user}" });
    const module = await cache.compile(readFileSync(`${ROOT}policies-wasm/dist/builtins/rate-limit-by-key.wasm`));
    const plugin = await PolicyPlugin.create(module, { config });
    plugins.push(plugin);
    const state = new MemoryStateStore();
    const status = async (user: string) => {
      const ex: PolicyExchange = {
        method: "GET",
        path: "/x",
        requestHeaders: new Headers({ "x-user": user }),
        responseHeaders: undefined,
        policy: "rate-limit-by-key",
        state,
      };
      await plugin.call("on_request", ex);
      return ex.reply?.status ?? 200;
    };
    // One call per key in the period. Thousands of keys of one length: the guest's collector frees
    // the places of earlier keys and builds later ones there, which a remembered string must not hide.
    const users = Array.from({ length: 3_000 }, (_, i) => `user-${String(i).padStart(5, "0")}`);
    const first = [];
    for (const user of users) first.push(await status(user));
    assert.deepEqual(first.filter((s) => s !== 200), [], "each user's first call passes");
    const second = [];
    for (const user of users) second.push(await status(user));
    assert.deepEqual(second.filter((s) => s !== 429), [], "each user's second call is refused");
  });
});
