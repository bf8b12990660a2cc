import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Logger } from "./log.ts";
import { redactingLogger } from "./redact.ts";

function recorder(): { logger: Logger; lines: unknown[] } {
  const lines: unknown[] = [];
  const logger: Logger = {
    format: "json",
    debug: (message, fields) => lines.push(["debug", message, fields]),
    info: (message, fields) => lines.push(["info", message, fields]),
    warn: (message, fields) => lines.push(["warn", message, fields]),
    error: (message, fields) => lines.push(["error", message, fields]),
    access: (fields) => lines.push(["access", fields]),
  };
  return { logger, lines };
}

describe("redactingLogger", () => {
  it("replaces the live secrets in messages and in field values at any depth, access lines included", () => {
    const { logger, lines } = recorder();
    let secrets: ReadonlySet<string> | undefined = new Set(["s3cr3t"]);
    const log = redactingLogger(logger, () => secrets);
    log.warn("policy said s3cr3t", { reason: "x s3cr3t y", list: ["s3cr3t"], nested: { a: "s3cr3t" }, n: 1 });
    log.access({ path: "/p/s3cr3t", status: 200 });
    secrets = undefined;
    log.info("no secrets live: s3cr3t", { a: "s3cr3t" });
    assert.deepEqual(lines, [
      ["warn", "policy said ***", { reason: "x *** y", list: ["***"], nested: { a: "***" }, n: 1 }],
      ["access", { path: "/p/***", status: 200 }],
      ["info", "no secrets live: s3cr3t", { a: "s3cr3t" }],
    ]);
  });
});
