import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CounterLeases } from "./counter-leases.ts";

// The bookkeeping of calls taken ahead on busy shared counters (Redis grants them; see
// shared-step_test.ts and shared-counters_e2e_test.ts for the real round trips).

describe("CounterLeases", () => {
  it("asks for nothing ahead on a counter called fewer than ten times a second, then a tenth of a second's worth, at most max", () => {
    const leases = new CounterLeases(32);
    const asked: number[] = [];
    for (let i = 0; i < 12; i++) {
      const reserve = leases.ask("k", 1_000 + i);
      asked.push(reserve);
      // Redis answers before the next call (granting nothing here), so another step may ask.
      leases.answered("k", reserve > 0, true, i + 1, 60_000, 0, 1_000 + i, 60_000);
    }
    assert.deepEqual(asked, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
    for (let i = 0; i < 1_000; i++) {
      const reserve = leases.ask("k", 1_100);
      leases.answered("k", reserve > 0, true, i, 60_000, 0, 1_100, 60_000);
    }
    assert.equal(leases.ask("k", 1_200), 32, "capped by max");
    assert.equal(new CounterLeases(0).ask("k", 1_000), 0, "max 0: never");
  });

  it("lets one step ask at a time, and another once it was answered or failed", () => {
    const leases = new CounterLeases(32);
    for (let i = 0; i < 100; i++) leases.ask("k", 5_000);
    leases.failed("k");
    assert.equal(leases.ask("k", 5_000), 10);
    assert.equal(leases.ask("k", 5_000), 0, "the first is still asking");
    leases.answered("k", true, true, 101, 60_000, 10, 5_000, 60_000);
    assert.equal(leases.ask("k", 5_000), 10);
  });

  it("answers calls from a grant until it is used up or its window ends, and takes nothing when one counter of a call lacks", () => {
    const leases = new CounterLeases(32);
    for (let i = 0; i < 50; i++) leases.ask("k", 10_000);
    leases.answered("k", true, true, 51, 1_000, 3, 10_000, 1_000);
    assert.equal(leases.takeOne("k", 1, 10_010)?.count, 52);
    assert.equal(leases.take(["k", "other"], [1, 1], 10_010), undefined, "other has no grant: nothing taken");
    assert.deepEqual(leases.take(["k"], [1], 10_020), [{ accepted: true, count: 53, resetMs: 980 }]);
    assert.equal(leases.takeOne("k", 2, 10_030), undefined, "one call left, two asked for");
    leases.giveBack("k", 1, 10_040);
    assert.equal(leases.takeOne("k", 2, 10_050)?.count, 54);
    assert.equal(leases.takeOne("k", 1, 10_060), undefined, "used up");
    leases.answered("k", true, true, 60, 1_000, 5, 10_100, 1_000);
    assert.equal(leases.takeOne("k", 1, 11_100), undefined, "the window counted from when the grant was asked for has ended");
    // A grant in a new window replaces what was left of the old one.
    leases.answered("k", true, true, 1, 1_000, 2, 11_200, 1_000);
    assert.ok(leases.takeOne("k", 1, 11_300));
    assert.ok(leases.takeOne("k", 1, 11_300));
    assert.equal(leases.takeOne("k", 1, 11_300), undefined);
  });

  it("tops up in the background when less than half of a step's ask is left, one at a time", () => {
    const leases = new CounterLeases(32);
    for (let i = 0; i < 200; i++) leases.ask("k", 20_000);
    leases.failed("k");
    leases.answered("k", false, true, 200, 60_000, 0, 20_000, 60_000);
    assert.equal(leases.topUp("k"), 20, "nothing held: top up by 200 calls / 10");
    assert.equal(leases.topUp("k"), 0, "already asking");
    leases.answered("k", true, true, 220, 60_000, 20, 20_000, 60_000);
    assert.equal(leases.topUp("k"), 0, "20 held");
    for (let i = 0; i < 11; i++) assert.ok(leases.takeOne("k", 1, 20_010));
    assert.equal(leases.topUp("k"), 21, "9 held, under half of 211 calls / 10");
    assert.equal(leases.topUp("unknown"), 0);
  });

  it("follows at most 10,000 counters, forgetting the oldest first", () => {
    const leases = new CounterLeases(32);
    for (let i = 0; i < 10_050; i++) leases.ask(`k${i}`, 30_000);
    assert.equal(leases.size, 10_000);
  });

  it("refuses here, until the window ends, a call the grant cannot answer once Redis refused the counter; a call still held is used first", () => {
    const leases = new CounterLeases(32);
    for (let i = 0; i < 50; i++) leases.ask("k", 40_000);
    // An accepted step was granted one call ahead; then another step was refused: the counter is full in this window.
    leases.answered("k", true, true, 99, 1_000, 1, 40_000, 1_000);
    leases.answered("k", false, false, 100, 900, 0, 40_050, 1_000);
    assert.equal(leases.takeOne("k", 1, 40_100)?.accepted, true, "the call held is used first");
    const refused = leases.takeOne("k", 1, 40_200);
    assert.equal(refused?.accepted, false);
    assert.equal(refused?.resetMs, 800, "what is left of the window, as the latest of the answers in it put its end");
    assert.equal(leases.take(["k", "other"], [1, 1], 40_200), undefined, "a call with two counters goes to Redis");
    assert.equal(leases.topUp("k"), 0, "no top-up on a full counter");
    assert.equal(leases.takeOne("k", 1, 41_000), undefined, "the window has ended: Redis answers");
    // Refused again in the next window, then a call accepted in it (a take-back made room): no longer refused here.
    leases.answered("k", false, false, 100, 1_000, 0, 41_000, 1_000);
    assert.equal(leases.takeOne("k", 1, 41_050)?.accepted, false);
    leases.answered("k", false, true, 100, 950, 0, 41_050, 1_000);
    assert.equal(leases.takeOne("k", 1, 41_100), undefined);
    // A top-up's answer (no call in it) leaves the mark as it is.
    leases.answered("k", false, false, 100, 900, 0, 41_100, 1_000);
    leases.answered("k", true, undefined, 100, 900, 0, 41_100, 1_000);
    assert.equal(leases.takeOne("k", 1, 41_200)?.accepted, false);
  });

  it("never carries calls held from an ended window into the next, even when the next window's answer was asked for before the old one's estimated end", () => {
    const leases = new CounterLeases(32);
    for (let i = 0; i < 100; i++) leases.ask("k", 10_000);
    leases.answered("k", true, true, 50, 1_000, 5, 10_000, 1_000);
    // Asked at 10,990 (before 11,000, where this process thinks the window ends); Redis had started a new window.
    leases.answered("k", false, true, 1, 1_000, 3, 10_990, 1_000);
    for (let i = 0; i < 3; i++) assert.equal(leases.takeOne("k", 1, 11_100)?.accepted, true);
    assert.equal(leases.takeOne("k", 1, 11_100), undefined, "3 calls granted in the new window, not 3 + the 5 held from the old one");
    const other = new CounterLeases(32);
    for (let i = 0; i < 100; i++) other.ask("k", 10_000);
    other.answered("k", true, true, 50, 1_000, 5, 10_000, 1_000);
    other.answered("k", false, false, 8, 1_000, 0, 10_990, 1_000);
    assert.equal(other.takeOne("k", 1, 11_100)?.accepted, false, "refused in the new window: the calls held from the old one are gone");
  });
});
