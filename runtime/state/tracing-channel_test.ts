import assert from "node:assert/strict";
import { describe, it } from "node:test";
import diagnostics from "node:diagnostics_channel";
import { ensureTracingChannelHasSubscribers } from "./tracing-channel.ts";

describe("ensureTracingChannelHasSubscribers", () => {
  it("makes hasSubscribers false without subscribers and true while one of the five channels has one", () => {
    ensureTracingChannelHasSubscribers();
    const channel = diagnostics.tracingChannel("portico:test:tracing-channel");
    assert.equal(channel.hasSubscribers, false);
    const listener = () => {};
    diagnostics.subscribe("tracing:portico:test:tracing-channel:asyncEnd", listener);
    assert.equal(channel.hasSubscribers, true);
    diagnostics.unsubscribe("tracing:portico:test:tracing-channel:asyncEnd", listener);
    assert.equal(channel.hasSubscribers, false);
  });

  it("still delivers every event to a real subscriber", async () => {
    ensureTracingChannelHasSubscribers();
    const channel = diagnostics.tracingChannel("portico:test:tracing-events");
    const seen: string[] = [];
    const handlers = {
      start: () => seen.push("start"),
      end: () => seen.push("end"),
      asyncStart: () => seen.push("asyncStart"),
      asyncEnd: () => seen.push("asyncEnd"),
      error: () => seen.push("error"),
    };
    channel.subscribe(handlers);
    await channel.tracePromise(() => Promise.resolve(1), {});
    channel.unsubscribe(handlers);
    assert.deepEqual(seen, ["start", "end", "asyncStart", "asyncEnd"]);
  });
});
