import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ROOT } from "../../test/harness.ts";
import { PolicyModuleCache, PolicyPlugin } from "./extism.ts";
import { FUEL_EXPORT, MeterError, meterModule } from "./meter.ts";

const fixture = (name: string) => readFileSync(`${ROOT}policies-wasm/dist/fixtures/${name}.wasm`);
const MiB = 1024 * 1024;

describe("policy budgets (module metering)", () => {
  it("stops a policy that never returns within its fuel, and the next call is stopped too", async () => {
    const module = await new PolicyModuleCache().compile(fixture("infinite-loop"), undefined, { fuel: 1_000_000, memoryBytes: 16 * MiB });
    const plugin = await PolicyPlugin.create(module);
    try {
      for (let round = 0; round < 2; round++) {
        const started = performance.now();
        await assert.rejects(plugin.call("on_request"), /unreachable/i);
        const ms = performance.now() - started;
        assert.ok(ms < 1_000, `stopped after ${ms.toFixed(1)} ms`);
      }
    } finally {
      await plugin.close();
    }
  });

  it("counts fuel exactly: one unit per function entry, a trap when it is spent", () => {
    const metered = meterModule(fixture("counter"), 16, 3);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(metered as unknown as ArrayBuffer), {});
    const onRequest = instance.exports.on_request as () => number;
    for (let i = 0; i < 3; i++) onRequest();
    assert.throws(onRequest, /unreachable/i, "the fourth call has no fuel left");
    (instance.exports[FUEL_EXPORT] as WebAssembly.Global).value = 1n;
    onRequest();
  });

  it("stops a policy that allocates without end at its memory cap", async () => {
    const metered = meterModule(fixture("memory-bomb"), 64, 1_000_000_000);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(metered as unknown as ArrayBuffer), {});
    assert.throws(() => (instance.exports.on_request as () => number)(), /unreachable/i);
    const bytes = (instance.exports.memory as WebAssembly.Memory).buffer.byteLength;
    assert.ok(bytes <= 64 * 64 * 1024, `memory is ${bytes} bytes, cap ${64 * 64 * 1024}`);

    const module = await new PolicyModuleCache().compile(fixture("memory-bomb"), undefined, { fuel: 1_000_000_000, memoryBytes: 4 * MiB });
    const plugin = await PolicyPlugin.create(module);
    await assert.rejects(plugin.call("on_request"));
    await plugin.close();
  });

  it("keeps a well-behaved module working and exports the fuel it has left", () => {
    const metered = meterModule(fixture("counter"), 16, 1_000);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(metered as unknown as ArrayBuffer), {});
    const fuel = instance.exports[FUEL_EXPORT] as WebAssembly.Global;
    const before = fuel.value as bigint;
    (instance.exports.on_request as () => number)();
    assert.equal(before - (fuel.value as bigint), 1n, "one function entry, no loop");
  });

  it("refuses what it cannot meter instead of guessing", () => {
    assert.throws(() => meterModule(new TextEncoder().encode("not wasm at all"), 16, 1), MeterError);
    // A module whose only function body holds an opcode that does not exist (0xff).
    const bogus = Uint8Array.from([
      0x00,
      0x61,
      0x73,
      0x6d,
      0x01,
      0x00,
      0x00,
      0x00, // header
      0x01,
      0x04,
      0x01,
      0x60,
      0x00,
      0x00, // type: () -> ()
      0x03,
      0x02,
      0x01,
      0x00, // function 0 has type 0
      0x0a,
      0x05,
      0x01,
      0x03,
      0x00,
      0xff,
      0x0b, // code: no locals, 0xff, end
    ]);
    assert.throws(() => meterModule(bogus, 16, 1), /unknown instruction 0xff/);
  });
});
