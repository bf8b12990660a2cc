import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { describe, it } from "node:test";
import { resolveSettings, type Settings } from "../../config/schema/settings.ts";
import { freePort, runCli } from "../../test/harness.ts";
import { healthUrl } from "./health.ts";

function settings(env: Record<string, string>): Settings {
  const result = resolveSettings(undefined, env);
  assert.ok(result.ok);
  return result.settings;
}

describe("portico health", () => {
  it("asks the status probe on the configured HTTP port, on loopback for a wildcard bind address", () => {
    assert.equal(healthUrl(settings({})), "http://127.0.0.1:8080/status-0123456789abcdef");
    assert.equal(
      healthUrl(settings({ PORTICO_NET_SERVER_HTTP_PORT: "9999", PORTICO_NET_SERVER_BIND_ADDRESS: "10.0.0.7" })),
      "http://10.0.0.7:9999/status-0123456789abcdef",
    );
    assert.equal(healthUrl(settings({ PORTICO_NET_SERVER_BIND_ADDRESS: "::1" })), "http://[::1]:8080/status-0123456789abcdef");
  });

  it("falls back to /readyz on the management port when the HTTP listener is off", () => {
    assert.equal(healthUrl(settings({ PORTICO_NET_SERVER_HTTP_PORT: "0", PORTICO_NET_MANAGEMENT_PORT: "9100" })), "http://127.0.0.1:9100/readyz");
  });

  it("exits 0 on a 200 and 1 with the status or the connection error otherwise", async () => {
    let status = 200;
    const server: Server = createServer((req, res) => {
      res.writeHead(req.url === "/status-0123456789abcdef" ? status : 404).end();
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    try {
      const env = { PORTICO_NET_SERVER_HTTP_PORT: String(port) };
      const ok = await runCli(["health"], env);
      assert.equal(ok.code, 0, ok.stderr);
      status = 503;
      const down = await runCli(["health"], env);
      assert.equal(down.code, 1);
      assert.match(down.stderr, new RegExp(`status-0123456789abcdef: status 503`));
    } finally {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    }
    const refused = await runCli(["health"], { PORTICO_NET_SERVER_HTTP_PORT: String(port) });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /no answer/);
    const usage = await runCli(["health", "--bogus"]);
    assert.equal(usage.code, 2);
  });
});
