import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { ROOT } from "../../test/harness.ts";
import { PolicyModuleCache, PolicyPlugin } from "./extism.ts";

/**
 * The SDK's `constantTimeEquals` (policies-wasm/sdk/text.ts), run in a module built with it
 * (policies-wasm/fixtures/constant-time): its answers, which must be those of `===`. Its timing is
 * not measured here; what makes it constant-time is that it compares every unit without stopping.
 */
describe("SDK: constantTimeEquals", () => {
  let plugin: PolicyPlugin;
  before(async () => {
    const module = await new PolicyModuleCache().compile(readFileSync(`${ROOT}policies-wasm/dist/fixtures/constant-time.wasm`));
    plugin = await PolicyPlugin.create(module);
  });
  after(async () => {
    await plugin?.close();
  });

  const equals = async (given: string | undefined, secret: string | undefined): Promise<boolean> => {
    const variables = new Map<string, string>();
    if (given !== undefined) variables.set("given", given);
    if (secret !== undefined) variables.set("secret", secret);
    await plugin.call("on_request", { method: "GET", path: "/", requestHeaders: new Headers(), responseHeaders: undefined, variables });
    const answer = variables.get("equal");
    assert.ok(answer === "true" || answer === "false", `the fixture answered ${answer}`);
    return answer === "true";
  };

  it("is true for equal strings, empty ones included", async () => {
    assert.equal(await equals("k-alpha", "k-alpha"), true);
    assert.equal(await equals("", ""), true);
    assert.equal(await equals(undefined, undefined), true);
    const long = "s3cr3t-".repeat(600);
    assert.equal(await equals(long, long), true);
    assert.equal(await equals("ключ-🔑-鍵", "ключ-🔑-鍵"), true);
  });

  it("is false when lengths differ: prefixes, extensions, an empty side", async () => {
    assert.equal(await equals("k-alph", "k-alpha"), false);
    assert.equal(await equals("k-alphaa", "k-alpha"), false);
    assert.equal(await equals("", "k-alpha"), false);
    assert.equal(await equals("k-alpha", ""), false);
    // Longer than the secret by a repetition of it: only the lengths differ in the units compared.
    assert.equal(await equals("aaaa", "a"), false);
    assert.equal(await equals("a", "aaaa"), false);
  });

  it("is false for one differing unit anywhere: first, middle, last, case, a surrogate half", async () => {
    assert.equal(await equals("x-alpha", "k-alpha"), false);
    assert.equal(await equals("k-aXpha", "k-alpha"), false);
    assert.equal(await equals("k-alphb", "k-alpha"), false);
    assert.equal(await equals("K-ALPHA", "k-alpha"), false);
    assert.equal(await equals("🔑", "🔒"), false);
    const long = "s3cr3t-".repeat(600);
    assert.equal(await equals(`${long.slice(0, 2100)}!${long.slice(2101)}`, long), false);
  });

  it("agrees with === on 300 generated pairs, whichever side is the secret", async () => {
    let seed = 7;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
    const text = () => Array.from({ length: next() % 6 }, () => "ab\u00e9\u4e2d"[next() % 4]).join("");
    for (let i = 0; i < 300; i++) {
      const a = text();
      const b = i % 3 === 0 ? a : text();
      assert.equal(await equals(a, b), a === b, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
      assert.equal(await equals(b, a), a === b, `${JSON.stringify(b)} vs ${JSON.stringify(a)}`);
    }
  });
});
