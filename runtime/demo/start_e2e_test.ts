import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { freePort, ROOT, scriptCommand } from "../../test/harness.ts";
import { rawRequest } from "../../test/raw-http.ts";

describe("npm start (the quickstart)", () => {
  it("serves the demo APIs through the echo backend with no network, and prints URLs to try", async () => {
    const port = await freePort();
    const management = await freePort();
    const [cmd, ...args] = scriptCommand(join(ROOT, "runtime/demo/start.ts"));
    const child = spawn(cmd!, args, {
      cwd: ROOT,
      env: { ...process.env, PORTICO_NET_SERVER_HTTP_PORT: String(port), PORTICO_NET_MANAGEMENT_PORT: String(management) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      const deadline = Date.now() + 20_000;
      while (!output.includes("Try:")) {
        if (child.exitCode !== null || Date.now() > deadline) assert.fail(`the quickstart did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(output, new RegExp(`curl -i http://localhost:${port}/echo/hello`));

      const echo = await fetch(`http://127.0.0.1:${port}/echo/hello?name=portico`);
      assert.equal(echo.status, 200);
      assert.equal(echo.headers.get("x-served-by"), "portico", "the outbound set-header policy ran");
      const seen = await echo.json();
      assert.equal(seen.url, "/hello?name=portico");
      assert.equal(seen.headers["x-request-source"], "portico-quickstart", "the inbound set-header policy ran");
      const order = await fetch(`http://127.0.0.1:${port}/orders/42`);
      assert.equal((await order.json()).url, "/v2/42");
      const admin = await rawRequest(port, "GET /anything HTTP/1.1\r\nHost: admin.localhost");
      assert.equal(JSON.parse(admin.body).url, "/anything");
      assert.equal((await fetch(`http://127.0.0.1:${port}/orders/42`, { method: "DELETE" })).status, 405);
      assert.equal((await fetch(`http://127.0.0.1:${management}/readyz`)).status, 200);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});
