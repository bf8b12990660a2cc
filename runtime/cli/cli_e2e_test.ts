import assert from "node:assert/strict";
import { statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ROOT, runCli, tempDir } from "../../test/harness.ts";

const VALID = `
apis: [ { name: orders, path: /orders, backend: orders } ]
backends: { orders: { urls: ["http://127.0.0.1:9"] } }
`;

function file(name: string, text: string): string {
  const path = join(tempDir(), name);
  writeFileSync(path, text);
  return path;
}

describe("portico validate", () => {
  it("accepts the quickstart configuration", async () => {
    const res = await runCli(["validate", join(ROOT, "config/examples/quickstart.yaml")]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /valid \(3 APIs, 2 backends, sha256 [0-9a-f]{64}\)/);
  });

  it("lists every problem with its path, place and the value seen, and exits 1", async () => {
    const path = file(
      "bad.yaml",
      `apis:
  - { name: orders, path: /orders, backend: orders }
  - { name: users, path: /users, backend: users }
  - { name: reports, path: /reports, backend: ordrs }
  - { name: x, path: nope, backend: users, hots: [a.example.com] }
backends:
  orders: { urls: ["http://127.0.0.1:9000/v2"], timeout: soon }
  users: { urls: ["ftp://files"] }
`,
    );
    const res = await runCli(["validate", path]);
    assert.equal(res.code, 1);
    const lines = res.stderr.trim().split("\n");
    assert.ok(lines.some((l) => l.endsWith(`apis[3].path: expected a path starting with "/" and without query, fragment or spaces (got "nope")`)), res.stderr);
    assert.ok(lines.some((l) => l.includes(`apis[3].hots: unknown key (did you mean "hosts"?)`)), res.stderr);
    assert.ok(lines.some((l) => /bad\.yaml:7:\d+: backends\.orders\.timeout: expected a duration .*\(got "soon"\)/.test(l)), res.stderr);
    assert.ok(lines.some((l) => l.includes(`backends.users.urls[0]: expected an http:// or https:// URL`) && l.includes(`(got "ftp://files")`)), res.stderr);
    assert.ok(lines.some((l) => l.includes(`apis[2].backend: unknown backend "ordrs"`)), res.stderr);
    assert.match(lines.at(-1)!, /bad\.yaml: 5 problems/);
  });

  it("reports unknown backends with the known names, as in the contract", async () => {
    const path = file(
      "refs.yaml",
      `apis:
  - { name: orders, path: /orders, backend: orders }
  - { name: users, path: /users, backend: users }
  - { name: reports, path: /reports, backend: ordrs }
backends:
  orders: { urls: ["http://127.0.0.1:9000"] }
  users: { urls: ["http://127.0.0.1:9001"] }
`,
    );
    const res = await runCli(["validate", path]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /refs\.yaml:4:\d+: apis\[2\]\.backend: unknown backend "ordrs" \(did you mean "orders"\? known: orders, users\)/);
  });

  it("reads JSON as well as YAML", async () => {
    const path = file("c.json", JSON.stringify({ apis: [{ name: "a", path: "/a", backend: "b" }], backends: { b: { urls: ["http://127.0.0.1:1"] } } }));
    assert.equal((await runCli(["validate", path])).code, 0);
  });

  it("says when the file cannot be read (exit 1) and when it is used wrongly (exit 2)", async () => {
    const missing = await runCli(["validate", "/nonexistent/portico.yaml"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /file not found/);
    assert.equal((await runCli(["validate"])).code, 2);
    const unknown = await runCli(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    assert.equal((await runCli(["gateway", "--bogus"])).code, 2);
  });
});

describe("portico gateway start-up errors", () => {
  it("needs a configuration source", async () => {
    const res = await runCli(["gateway"], { PORTICO_NET_MANAGEMENT_PORT: "0" });
    assert.equal(res.code, 2);
    assert.match(res.stderr, /--config FILE/);
  });

  it("refuses an invalid configuration, listing every problem", async () => {
    const res = await runCli(["gateway", "--config", file("bad.yaml", "apis: [ { name: a, path: /a, backend: nope } ]\nbackendz: {}\n")]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /backendz: unknown key \(did you mean "backends"\?\)/);
  });

  it("names the key, the variable and the value of a bad setting from the environment", async () => {
    const res = await runCli(["gateway", "--config", file("ok.yaml", VALID)], {
      PORTICO_NET_SERVER_HTTP_PORT: "80a",
      PORTICO_CONFIG_SYNC_INTERVAL: "often",
      PORTICO_TELEMETRY_LOGS_STD: "xml",
    });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /net\.server\.http\.port: expected a port number from 0 to 65535 \(from PORTICO_NET_SERVER_HTTP_PORT\) \(got "80a"\)/);
    assert.match(res.stderr, /config\.sync\.interval: .*\(from PORTICO_CONFIG_SYNC_INTERVAL\) \(got "often"\)/);
    assert.match(res.stderr, /telemetry\.logs\.std: expected one of json, text, none .*\(got "xml"\)/);
  });

  it("names bad and unknown keys of a settings file", async () => {
    const settings = file("settings.yaml", "net.management.port: 70000\nnet:\n  server:\n    http:\n      prot: 1\n");
    const res = await runCli(["gateway", "--settings", settings, "--config", file("ok.yaml", VALID)]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /net\.management\.port: expected a port number from 0 to 65535 \(got 70000\)/);
    assert.match(res.stderr, /net\.server\.http\.prot: unknown setting \(did you mean "net\.server\.http\.port"\?\)/);
  });

  it("exits 1 with one line when the port is taken", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const { port } = blocker.address() as { port: number };
    try {
      const res = await runCli(["gateway", "--config", file("ok.yaml", VALID)], {
        PORTICO_NET_SERVER_HTTP_PORT: String(port),
        PORTICO_NET_SERVER_BIND_ADDRESS: "127.0.0.1",
        PORTICO_NET_MANAGEMENT_PORT: "0",
      });
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, new RegExp(`portico: cannot listen on 127\\.0\\.0\\.1:${port}`));
    } finally {
      blocker.close();
    }
  });

  it("prints its version", async () => {
    const res = await runCli(["--version"]);
    assert.equal(res.code, 0);
    assert.match(res.stdout, /^portico \d+\.\d+\.\d+/);
  });
});

describe("portico token, key and control-plane", () => {
  it("creates tokens and regenerates keys, with owner-only state", async () => {
    const data = tempDir();
    const token = await runCli(["token", "create", "--gateway", "edge-1", "--expires", "12h", "--data", data]);
    assert.equal(token.code, 0, token.stderr);
    const [gateway, key, generation, expires] = token.stdout.trim().split("&");
    assert.deepEqual([gateway, key, generation], ["edge-1", "primary", "1"]);
    const hours = (Number(expires) * 1000 - Date.now()) / 3_600_000;
    assert.ok(hours > 11.9 && hours <= 12, `expires in ${hours} h`);
    assert.equal(statSync(join(data, "state", "keys.json")).mode & 0o777, 0o600);
    const rotated = await runCli(["key", "regenerate", "--gateway", "edge-1", "--key", "primary", "--data", data]);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /regenerated the primary key of gateway "edge-1" \(generation 2\)/);
    const next = await runCli(["token", "create", "--gateway", "edge-1", "--data", data]);
    assert.match(next.stdout, /^edge-1&primary&2&/);
  });

  it("says what is wrong with its arguments", async () => {
    const data = tempDir();
    const cases: [string[], number, RegExp][] = [
      [["token"], 2, /token needs a subcommand: create/],
      [["token", "create", "--data", data], 2, /--gateway NAME is required/],
      [["token", "create", "--gateway", "bad name", "--data", data], 1, /--gateway: expected a name .* \(got "bad name"\)/],
      [["token", "create", "--gateway", "g", "--key", "tertiary", "--data", data], 2, /--key: expected primary or secondary \(got "tertiary"\)/],
      [["token", "create", "--gateway", "g", "--expires", "soon", "--data", data], 2, /--expires: expected a duration .* \(got "soon"\)/],
      [["key", "regenerate", "--gateway", "ghost", "--key", "primary", "--data", data], 1, /gateway "ghost" has no keys yet/],
      [["key", "regenerate", "--gateway", "ghost", "--data", data], 2, /needs --key primary or --key secondary/],
      [["control-plane", "--port", "99999", "--data", data], 2, /--port: expected a port number from 0 to 65535 \(got "99999"\)/],
      [["gateway"], 2, /gateway needs --config FILE \(standalone\) or the config\.service\.endpoint setting/],
    ];
    for (const [args, code, message] of cases) {
      const res = await runCli(args);
      assert.equal(res.code, code, `${args.join(" ")}: ${res.stderr}`);
      assert.match(res.stderr, message, args.join(" "));
    }
  });

  it("refuses a gateway whose token names another gateway than gateway.name", async () => {
    const data = tempDir();
    const token = (await runCli(["token", "create", "--gateway", "edge-1", "--data", data])).stdout.trim();
    const res = await runCli(["gateway"], {
      PORTICO_CONFIG_SERVICE_ENDPOINT: "http://127.0.0.1:9",
      PORTICO_CONFIG_SERVICE_AUTH: token,
      PORTICO_GATEWAY_NAME: "edge-2",
    });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /gateway\.name is "edge-2" but the token in config\.service\.auth is for gateway "edge-1"/);
    const garbage = await runCli(["gateway"], { PORTICO_CONFIG_SERVICE_ENDPOINT: "http://127.0.0.1:9", PORTICO_CONFIG_SERVICE_AUTH: "hunter2" });
    assert.equal(garbage.code, 1);
    assert.match(garbage.stderr, /config\.service\.auth: not a Portico gateway token/);
    assert.doesNotMatch(garbage.stderr, /hunter2/, "the secret is never echoed");
  });
});
