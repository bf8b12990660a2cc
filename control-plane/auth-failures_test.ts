import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type AuthFailure, AuthFailureLog, OTHER_SOURCES } from "./auth-failures.ts";

/** A log that keeps its lines, and a clock the test moves. */
function setup(options: { maxSources?: number } = {}) {
  const lines: { message: string; fields: Record<string, unknown> }[] = [];
  let now = 1_000_000;
  const log = new AuthFailureLog({ warn: (message, fields = {}) => lines.push({ message, fields }) }, { intervalMs: 60_000, now: () => now, ...options });
  return { log, lines, advance: (ms: number) => (now += ms) };
}

const failure = (source: string, reason = "bad signature"): AuthFailure => ({
  source,
  credential: "gateway token",
  reason,
  gateway: "edge-1",
  method: "GET",
  path: "/v1/gateways/edge-1/configuration",
});

describe("failed authentication log", () => {
  it("writes the first failure from a source at once, with where it came from and why", () => {
    const { log, lines } = setup();
    try {
      log.record(failure("192.0.2.7"));
      assert.deepEqual(lines, [
        {
          message: "control plane authentication failed",
          fields: {
            source: "192.0.2.7",
            credential: "gateway token",
            reason: "bad signature",
            gateway: "edge-1",
            method: "GET",
            path: "/v1/gateways/edge-1/configuration",
          },
        },
      ]);
    } finally {
      log.close();
    }
  });

  it("writes at most one line per source per interval, then the count of the others by reason", () => {
    const { log, lines, advance } = setup();
    try {
      log.record(failure("192.0.2.7"));
      for (let i = 0; i < 40; i++) log.record(failure("192.0.2.7"));
      log.record(failure("192.0.2.7", "expired"));
      log.record(failure("198.51.100.1")); // another source has its own line
      assert.deepEqual(lines.map((l) => l.fields.source), ["192.0.2.7", "198.51.100.1"]);
      advance(30_000);
      log.flush();
      assert.equal(lines.length, 2, "nothing more within the interval");
      advance(30_000);
      log.flush();
      assert.deepEqual(lines.slice(2), [
        {
          message: "control plane authentication failures repeated",
          fields: { source: "192.0.2.7", repeated: 41, seconds: 60, reasons: { "bad signature": 40, expired: 1 } },
        },
      ]);
      // The flood goes on: the next interval gets one line again, no more.
      for (let i = 0; i < 10; i++) log.record(failure("192.0.2.7"));
      assert.equal(lines.length, 3);
      advance(60_000);
      log.record(failure("192.0.2.7"));
      assert.deepEqual(lines.slice(3).map((l) => [l.message, l.fields.repeated]), [["control plane authentication failures repeated", 10]]);
    } finally {
      log.close();
    }
  });

  it("forgets a source that stayed quiet through its interval: its next failure is written at once", () => {
    const { log, lines, advance } = setup();
    try {
      log.record(failure("192.0.2.7"));
      advance(60_000);
      log.flush();
      assert.equal(log.sources, 0);
      log.record(failure("192.0.2.7", "expired"));
      assert.deepEqual(lines.map((l) => [l.message, l.fields.reason]), [
        ["control plane authentication failed", "bad signature"],
        ["control plane authentication failed", "expired"],
      ]);
    } finally {
      log.close();
    }
  });

  it("follows a bounded number of sources; failures from more are counted together", () => {
    const { log, lines, advance } = setup({ maxSources: 3 });
    try {
      for (let i = 1; i <= 10; i++) log.record(failure(`192.0.2.${i}`));
      assert.equal(log.sources, 4, "three sources and the shared count");
      assert.deepEqual(lines.map((l) => l.fields.source), ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]);
      advance(60_000);
      log.flush();
      assert.deepEqual(lines.at(-1)!.fields, { source: OTHER_SOURCES, repeated: 6, seconds: 60, reasons: { "bad signature": 6 } });
    } finally {
      log.close();
    }
  });

  it("cuts a long gateway name and path from the client", () => {
    const { log, lines } = setup();
    try {
      log.record({ ...failure("192.0.2.7"), gateway: "g".repeat(500), path: `/v1/gateways/${"g".repeat(500)}/configuration` });
      assert.equal(lines[0]!.fields.gateway, `${"g".repeat(64)}…`);
      assert.equal((lines[0]!.fields.path as string).length, 201);
    } finally {
      log.close();
    }
  });
});
