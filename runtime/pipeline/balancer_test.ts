import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Balancer } from "./balancer.ts";

const member = (value: string, weight = 1, priority = 0) => ({ value, weight, priority, health: { up: true } });

function counts(balancer: Balancer<string>, n: number): Record<string, number> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const v = balancer.pick();
    seen[v] = (seen[v] ?? 0) + 1;
  }
  return seen;
}

describe("Balancer", () => {
  it("rotates evenly over members of equal weight", () => {
    const b = new Balancer([member("a"), member("b"), member("c")]);
    assert.deepEqual([b.pick(), b.pick(), b.pick(), b.pick(), b.pick(), b.pick()], ["a", "b", "c", "a", "b", "c"]);
  });

  it("splits by weight exactly over each cycle, spread out rather than in bursts (smooth weighted round robin)", () => {
    const b = new Balancer([member("a", 3), member("b", 1)]);
    const first = Array.from({ length: 8 }, () => b.pick());
    assert.deepEqual(first, ["a", "a", "b", "a", "a", "a", "b", "a"]);
    assert.deepEqual(counts(new Balancer([member("a", 5), member("b", 2), member("c", 1)]), 800), { a: 500, b: 200, c: 100 });
    const weighted = new Balancer([member("a", 5), member("b", 1), member("c", 1)]);
    const order = Array.from({ length: 7 }, () => weighted.pick());
    assert.ok(!order.join("").includes("aaaa"), `no run of four a's within a cycle: ${order.join("")}`);
  });

  it("sends only to the lowest priority number while one of its members is up, and skips members that are down", () => {
    const a = member("a", 1, 0);
    const b = member("b", 1, 0);
    const c = member("c", 1, 1);
    const balancer = new Balancer([c, a, b]);
    assert.deepEqual(counts(balancer, 10), { a: 5, b: 5 });
    a.health.up = false;
    assert.deepEqual(counts(balancer, 10), { b: 10 });
    b.health.up = false;
    assert.deepEqual(counts(balancer, 10), { c: 10 }, "the priority-1 group serves once priority 0 has no member up");
    a.health.up = true;
    assert.deepEqual(counts(balancer, 10), { a: 10 }, "traffic returns to priority 0 as soon as a member is back");
  });

  it("fails open: with no member up anywhere, it still picks from the first group by weight", () => {
    const members = [member("a", 2, 0), member("b", 1, 0), member("c", 1, 1)];
    const balancer = new Balancer(members);
    for (const m of members) m.health.up = false;
    assert.deepEqual(counts(balancer, 30), { a: 20, b: 10 });
  });

  it("refuses an empty pool", () => {
    assert.throws(() => new Balancer([]), /at least one member/);
  });
});
