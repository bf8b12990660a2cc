import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HttpProblem } from "../http/problem.ts";
import { BackendGate, BackendGates } from "./backend-gate.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("BackendGate", () => {
  it("takes free places without a promise, queues the next ones in order, and refuses past the queue with 503 and Retry-After", async () => {
    const gate = new BackendGate("b", { max: 2, queue: 2, queueTimeoutMs: 5_000 });
    assert.equal(gate.enter(), undefined);
    assert.equal(gate.enter(), undefined);
    assert.equal(gate.inFlight, 2);
    const order: number[] = [];
    const third = gate.enter()!.then(() => order.push(3));
    const fourth = gate.enter()!.then(() => order.push(4));
    assert.equal(gate.queued, 2);
    const refused = await gate.enter()!.then(
      () => assert.fail("a fifth request must be refused"),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof HttpProblem);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers?.["retry-after"], "5");
    assert.equal(gate.rejected, 1);
    gate.leave();
    await third;
    assert.deepEqual(order, [3], "the longest waiter gets the first place given back");
    assert.equal(gate.inFlight, 2, "a place handed to a waiter stays in use");
    gate.leave();
    await fourth;
    assert.deepEqual(order, [3, 4]);
    gate.leave();
    gate.leave();
    assert.equal(gate.inFlight, 0);
    assert.equal(gate.queued, 0);
  });

  it("refuses a waiter whose queue timeout passes, and skips it when a place frees later", async () => {
    const gate = new BackendGate("b", { max: 1, queue: 5, queueTimeoutMs: 30 });
    assert.equal(gate.enter(), undefined);
    const started = Date.now();
    const error = await gate.enter()!.catch((e: unknown) => e);
    assert.ok(error instanceof HttpProblem && error.status === 503);
    assert.ok(Date.now() - started >= 25, "refused only once the queue timeout passed");
    assert.equal(gate.queued, 0);
    const next = gate.enter()!;
    gate.leave();
    await next;
    assert.equal(gate.inFlight, 1, "the timed-out waiter did not take the place");
    gate.leave();
    assert.equal(gate.inFlight, 0);
  });

  it("lets waiters in when a new configuration raises the limit", async () => {
    const gates = new BackendGates();
    const gate = gates.gate("b", { max: 1, queue: 5, queueTimeoutMs: 5_000 });
    gate.enter();
    let admitted = false;
    const waiting = gate.enter()!.then(() => (admitted = true));
    await sleep(5);
    assert.equal(admitted, false);
    assert.equal(gates.gate("b", { max: 2, queue: 5, queueTimeoutMs: 5_000 }), gate, "the same gate across configurations");
    await waiting;
    assert.equal(gate.inFlight, 2);
  });

  it("forgets the gates of removed backends only once they are idle", () => {
    const gates = new BackendGates();
    const busy = gates.gate("busy", { max: 1, queue: 0, queueTimeoutMs: 1_000 });
    gates.gate("idle", { max: 1, queue: 0, queueTimeoutMs: 1_000 });
    busy.enter();
    gates.retain(new Set());
    assert.deepEqual([...gates.all()].map((g) => g.backend), ["busy"]);
  });
});
