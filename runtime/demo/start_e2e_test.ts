import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { freePort, ROOT, scriptCommand } from "../../test/harness.ts";
import { rawRequest } from "../../test/raw-http.ts";

/** `npm start [-- FILE]` on free ports, once its output shows `ready`; `stop` ends it. */
async function startDemo(file: string | undefined, ready: string) {
  const port = await freePort();
  const management = await freePort();
  const [cmd, ...args] = scriptCommand(join(ROOT, "runtime/demo/start.ts"));
  const child = spawn(cmd!, file ? [...args, file] : args, {
    cwd: ROOT,
    env: { ...process.env, PORTICO_NET_SERVER_HTTP_PORT: String(port), PORTICO_NET_MANAGEMENT_PORT: String(management) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    child.kill("SIGTERM");
    await exited;
  };
  const deadline = Date.now() + 20_000;
  while (!output.includes(ready)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      assert.fail(`npm start ${file ?? ""} did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, management, output: () => output, stop };
}

describe("npm start (the quickstart)", () => {
  it("serves the demo APIs through the echo backend with no network, and prints URLs to try", async () => {
    const demo = await startDemo(undefined, "Try:");
    const { port, management } = demo;
    try {
      assert.match(demo.output(), new RegExp(`curl -i http://localhost:${port}/echo/hello`));

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
      await demo.stop();
    }
  });
});

// In this file, not its own: both start the demo echo backend on its fixed port, so they must not run at once.
/** The demo's tokens (HS256 with the example's named value, valid until 2036): for the example's audience, and for another. */
const DEMO_TOKEN =
  "eyJhbGciOiJIUzI1NiIsImtpZCI6ImRlbW8ifQ.eyJzdWIiOiJhbGljZSIsInJvbGVzIjpbInJlcG9ydHMucmVhZCJdLCJpc3MiOiJodHRwczovL2xvZ2luLnBvcnRpY28uZXhhbXBsZSIsImF1ZCI6InBvcnRpY28tZGVtbyIsImlhdCI6MTc2NDYzMzYwMCwiZXhwIjoyMDgyNzU4NDAwfQ.A749J_6PVvmoyvYwevoHybvjzZ3J1OGAgNv3YB9JqwY";
const OTHER_AUDIENCE_TOKEN =
  "eyJhbGciOiJIUzI1NiIsImtpZCI6ImRlbW8ifQ.eyJzdWIiOiJhbGljZSIsInJvbGVzIjpbInJlcG9ydHMucmVhZCJdLCJpc3MiOiJodHRwczovL2xvZ2luLnBvcnRpY28uZXhhbXBsZSIsImF1ZCI6ImFub3RoZXItYXBpIiwiaWF0IjoxNzY0NjMzNjAwLCJleHAiOjIwODI3NTg0MDB9.h-XEI03yFkY08wdlltVpz54TCvKJTy89o2SB1rVYHfY";

/** The worked example of docs/consumers.md: each curl call the page shows, with the status the page promises. */
const CALLS: { curl: string; path: string; key?: string; token?: string; status: number }[] = [
  { curl: "curl -i http://localhost:8080/orders/42", path: "/orders/42", status: 401 },
  {
    curl: "curl -i -H 'Ocp-Apim-Subscription-Key: alice-primary-0123456789' http://localhost:8080/orders/42",
    path: "/orders/42",
    key: "alice-primary-0123456789",
    status: 200,
  },
  {
    curl: "curl -i 'http://localhost:8080/orders/42?subscription-key=alice-secondary-0123456789&page=2'",
    path: "/orders/42?subscription-key=alice-secondary-0123456789&page=2",
    status: 200,
  },
  {
    curl: "curl -i -H 'Ocp-Apim-Subscription-Key: not-a-key-0123456789' http://localhost:8080/orders/42",
    path: "/orders/42",
    key: "not-a-key-0123456789",
    status: 401,
  },
  {
    curl: "curl -i -H 'Ocp-Apim-Subscription-Key: bob-suspended-0123456789' http://localhost:8080/orders/42",
    path: "/orders/42",
    key: "bob-suspended-0123456789",
    status: 403,
  },
  { curl: "curl -i http://localhost:8080/catalog/items", path: "/catalog/items", status: 200 },
  { curl: "curl -i http://localhost:8080/reports/daily", path: "/reports/daily", status: 401 },
  {
    curl: `curl -i -H 'Authorization: Bearer ${OTHER_AUDIENCE_TOKEN}' http://localhost:8080/reports/daily`,
    path: "/reports/daily",
    token: OTHER_AUDIENCE_TOKEN,
    status: 401,
  },
  { curl: `curl -i -H 'Authorization: Bearer ${DEMO_TOKEN}' http://localhost:8080/reports/daily`, path: "/reports/daily", token: DEMO_TOKEN, status: 200 },
];

describe("docs/consumers.md's worked example", { timeout: 60_000 }, () => {
  it("shows exactly these calls", () => {
    const page = readFileSync(join(ROOT, "docs/consumers.md"), "utf8");
    const example = page.slice(page.indexOf("## Worked example"), page.indexOf("## Subscriptions"));
    assert.match(example, /npm start -- config\/examples\/consumers\.yaml/);
    const shown = example.split("\n").filter((line) => line.startsWith("curl "));
    assert.deepEqual(shown, CALLS.map((c) => c.curl));
  });

  it("answers them as the page says, on the example configuration with the demo backend", async () => {
    const demo = await startDemo("config/examples/consumers.yaml", "Ctrl-C stops");
    const { port } = demo;
    try {
      const secret = "cG9ydGljby1kZW1vLXNpZ25pbmcta2V5LTMyYnl0ZXM=";
      for (const call of CALLS) {
        const headers: Record<string, string> = {};
        if (call.key) headers["ocp-apim-subscription-key"] = call.key;
        if (call.token) headers.authorization = `Bearer ${call.token}`;
        const res = await fetch(`http://127.0.0.1:${port}${call.path}`, { headers });
        const body = await res.json();
        assert.equal(res.status, call.status, `${call.curl}: ${JSON.stringify(body)}`);
        if (res.status === 200 && call.path.startsWith("/orders")) {
          assert.equal(body.headers["x-product"], "gold", "the product's policy ran");
          assert.equal(body.headers["ocp-apim-subscription-key"], undefined);
          assert.ok(!String(body.url).includes("subscription-key"), body.url);
        }
        if (res.status === 200 && call.token) assert.equal(body.url, "/daily?user=alice", "the token's subject reached the backend");
        if (res.status === 401 && call.path.startsWith("/reports")) {
          assert.equal(body.type, call.token ? "urn:portico:problem:jwt-invalid" : "urn:portico:problem:jwt-missing");
        }
      }
      assert.ok(!demo.output().includes(secret), "the secret named value is never printed");
      assert.ok(!demo.output().includes(DEMO_TOKEN.split(".")[2]!), "no token is printed");
      assert.ok(!demo.output().includes(secret), "the secret named value is never printed");
      assert.ok(!demo.output().includes(DEMO_TOKEN.split(".")[2]!), "no token is printed");
    } finally {
      await demo.stop();
    }
  });
});
