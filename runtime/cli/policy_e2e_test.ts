import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type CliResult, type GatewayProcess, ROOT, runCli, startGatewayProcess, tempDir } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

/** Compiling with AssemblyScript takes a few seconds, more on a busy machine. */
const BUILD_TIMEOUT = 120_000;

describe("portico policy new, build and test", () => {
  const parent = tempDir();
  const project = join(parent, "add-tenant");
  let built: CliResult;

  before(async () => {
    const created = await runCli(["policy", "new", "add-tenant", "--dir", parent]);
    assert.equal(created.code, 0, created.stderr);
    built = await runCli(["policy", "build", project], {}, BUILD_TIMEOUT);
  });

  it("scaffolds a project that builds to DIR/build/NAME.wasm and prints its sha256", () => {
    for (const file of ["index.ts", "fixtures.yaml", "README.md"]) assert.ok(existsSync(join(project, file)), file);
    assert.equal(built.code, 0, built.stderr);
    const module = join(project, "build", "add-tenant.wasm");
    const sha256 = createHash("sha256").update(readFileSync(module)).digest("hex");
    assert.match(built.stdout, /^built .*add-tenant\/build\/add-tenant\.wasm \(\d+ bytes\)$/m);
    assert.match(built.stdout, new RegExp(`^sha256 ${sha256}$`, "m"));
    assert.match(built.stdout, new RegExp(`^policies: \\{ add-tenant: \\{ module: .*add-tenant\\.wasm, sha256: ${sha256} \\} \\}$`, "m"));
  });

  it("passes its own fixtures out of the box", async () => {
    const res = await runCli(["policy", "test", project]);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.equal(res.stdout.match(/^ok {3}\d /gm)?.length, 4, res.stdout);
    assert.match(res.stdout, /^4 cases: 4 passed, 0 failed$/m);
  });

  it("shows what differed in a failing case and exits 1", async () => {
    const fixtures = join(parent, "wrong.yaml");
    writeFileSync(
      fixtures,
      `with: { header: x-tenant-id, value: "{request.header.x-tenant}" }
cases:
  - name: passes
    request: { headers: { x-tenant: acme } }
    expect: { request: { headers: { x-tenant-id: acme } } }
  - name: wrong status, body and log
    expect:
      reply: { status: 403, body: "no" }
      logs: [ { level: error, message: nope } ]
  - name: expects a reply that does not come
    request: { headers: { x-tenant: acme } }
    expect: { reply: { status: 400 }, request: { removed: [x-tenant] } }
  - name: on_response keeps a header it removes
    hook: on_response
    response: { headers: { server: nginx } }
    expect: { response: { headers: { server: nginx } } }
`,
    );
    const res = await runCli(["policy", "test", project, "--fixtures", fixtures]);
    assert.equal(res.code, 1, res.stdout + res.stderr);
    const lines = res.stdout.split("\n");
    assert.match(lines.find((l) => l.includes(" 1 passes"))!, /^ok /);
    assert.match(lines.find((l) => l.includes(" 2 wrong status"))!, /^FAIL /);
    assert.ok(lines.includes("       reply.status: expected 403, got 400"), res.stdout);
    assert.ok(lines.includes(`       reply.body: expected "no", got "missing x-tenant-id\\n"`), res.stdout);
    assert.ok(lines.includes(`       logs: expected [error "nope"], got [warn "refused a request: no value for x-tenant-id"]`), res.stdout);
    assert.ok(lines.includes("       reply: expected the policy to reply 400, it continued"), res.stdout);
    assert.ok(lines.includes(`       request.removed: expected x-tenant to be removed, it is "acme"`), res.stdout);
    assert.ok(lines.includes(`       response.headers.server: expected "nginx", got nothing`), res.stdout);
    assert.match(res.stdout, /^4 cases: 1 passed, 3 failed$/m);
    assert.match(res.stderr, /^portico: policy test: 3 of 4 cases failed \(.*wrong\.yaml\)$/m);
  });

  it("reports every problem of a bad fixtures file with its path and place, and exits 1", async () => {
    const fixtures = join(parent, "bad.yaml");
    writeFileSync(
      fixtures,
      `with: 3
cases:
  - name: typo
    hook: on_reqest
    request: { path: orders, clientip: 10.0.0.1, headers: { "bad name": x } }
    expect: { continue: true, reply: { status: 99 } }
  - request: {}
`,
    );
    const res = await runCli(["policy", "test", project, "--fixtures", fixtures]);
    assert.equal(res.code, 1, res.stderr);
    assert.equal(res.stdout, "", "no case runs when the fixtures are invalid");
    const lines = res.stderr.trim().split("\n");
    const expected = [
      /bad\.yaml:1:1: with: expected record, received number \(got 3\)$/,
      /bad\.yaml:4:5: cases\[0\]\.hook: .*"on_request".*\(got "on_reqest"\)$/,
      /bad\.yaml:5:\d+: cases\[0\]\.request\.path: expected a path starting with "\/" \(got "orders"\)$/,
      /bad\.yaml:5:\d+: cases\[0\]\.request\.clientip: unknown key \(did you mean "client-ip"\?\)$/,
      /bad\.yaml:5:\d+: cases\[0\]\.request\.headers\.bad name: invalid key: expected a header name/,
      /bad\.yaml:6:\d+: cases\[0\]\.expect\.reply\.status: .*>=100 \(got 99\)$/,
      /cases\[0\]\.expect: give at most one of continue, reply and error/,
      /bad\.yaml:7:\d+: cases\[1\]\.name: required/,
    ];
    for (const pattern of expected) assert.ok(lines.some((l) => pattern.test(l)), `${pattern} in:\n${res.stderr}`);
    assert.match(lines.at(-1)!, /^portico: .*bad\.yaml: 8 problems$/);
  });

  it("runs the real host: a policy that never returns fails with its fuel budget, as a case can expect", async () => {
    const fixtures = join(parent, "loop.yaml");
    writeFileSync(
      fixtures,
      `budget: { fuel: 20000, memory: 1MiB }
cases:
  - name: stopped by its budget
    expect: { error: "out of fuel: the budget is 20000 units" }
  - name: expected to go on
`,
    );
    const res = await runCli(["policy", "test", "--module", join(ROOT, "policies-wasm/dist/fixtures/infinite-loop.wasm"), "--fixtures", fixtures]);
    assert.equal(res.code, 1, res.stdout + res.stderr);
    assert.match(res.stdout, /^ok {3}1 stopped by its budget/m);
    assert.match(res.stdout, /^FAIL 2 expected to go on .*\n {7}the policy failed: .*\(out of fuel: the budget is 20000 units a call\)$/m);
  });

  it("refuses usage errors with exit 2 and input problems with exit 1", async () => {
    assert.equal((await runCli(["policy"])).code, 2);
    const unknown = await runCli(["policy", "publish"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown policy command "publish"/);
    const badName = await runCli(["policy", "new", "Add_Tenant", "--dir", parent]);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /expected a kebab-case NAME .*\(got "Add_Tenant"\)/);
    const exists = await runCli(["policy", "new", "add-tenant", "--dir", parent]);
    assert.equal(exists.code, 1);
    assert.match(exists.stderr, /add-tenant already exists and is not empty/);
    const empty = join(parent, "empty");
    mkdirSync(empty);
    const noSource = await runCli(["policy", "build", empty]);
    assert.equal(noSource.code, 1);
    assert.match(noSource.stderr, /empty\/index\.ts not found/);
    const noModule = await runCli(["policy", "test", empty, "--fixtures", join(project, "fixtures.yaml")]);
    assert.equal(noModule.code, 1);
    assert.match(noModule.stderr, /empty\/build\/empty\.wasm: module not found \(build it with portico policy build /);
    const otherAbi = await runCli([
      "policy",
      "test",
      "--module",
      join(ROOT, "policies-wasm/dist/fixtures/abi-v2.wasm"),
      "--fixtures",
      join(project, "fixtures.yaml"),
    ]);
    assert.equal(otherAbi.code, 1);
    assert.match(otherAbi.stderr, /abi-v2\.wasm: module \w+ is built for policy ABI 2\.0; this gateway implements 1\.4$/m);
  });

  it("prints the compiler's diagnostics for a policy that does not compile, and exits 1", async () => {
    const broken = join(parent, "broken");
    mkdirSync(broken);
    writeFileSync(join(broken, "index.ts"), `export { portico_abi_version } from "@portico/sdk";\nexport function on_request(): i32 {\n  return nope;\n}\n`);
    const res = await runCli(["policy", "build", broken], {}, BUILD_TIMEOUT);
    assert.equal(res.code, 1, res.stdout);
    assert.match(res.stderr, /Cannot find name 'nope'/);
    assert.match(res.stderr, /^portico: .*broken\/index\.ts: the policy does not compile$/m);
    assert.ok(!existsSync(join(broken, "build", "broken.wasm")));
  });
});

describe("the api-key example in AssemblyScript, C and Rust (ABI neutrality)", () => {
  const dir = join(ROOT, "policies-wasm/examples/api-key");
  for (
    const [language, file] of [
      ["AssemblyScript", "api-key.wasm"],
      ["C (clang --target=wasm32, no libc)", "api-key-c.wasm"],
      ["Rust (rustc --target wasm32-unknown-unknown)", "api-key-rust.wasm"],
    ] as const
  ) {
    it(`${language} passes the shared fixtures`, async () => {
      const res = await runCli(["policy", "test", dir, "--module", join(ROOT, "policies-wasm/dist/examples", file)]);
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.match(res.stdout, /^9 cases: 9 passed, 0 failed$/m);
    });
  }
});

describe("the C and Rust builds of the api-key example in a gateway, as the guide configures it", () => {
  let upstream: Upstream;
  let gw: GatewayProcess;
  const module = (file: string) => {
    const path = join(ROOT, "policies-wasm/dist/examples", file);
    return `{ module: ${JSON.stringify(path)}, sha256: ${
      createHash("sha256").update(readFileSync(path)).digest("hex")
    }, budget: { fuel: 1000000, memory: 1MiB } }`;
  };

  before(async () => {
    upstream = await startUpstream();
    const api = (name: string) => `
  - name: ${name}
    path: /${name}
    backend: b
    policies:
      inbound: [ { policy: ${name}, with: { keys: "k-alpha, k-beta, k-gamma" } } ]`;
    gw = await startGatewayProcess({
      config: `apis:${api("api-key-c")}${api("api-key-rust")}
backends:
  b: { urls: ["${upstream.url}"] }
policies:
  api-key-c: ${module("api-key-c.wasm")}
  api-key-rust: ${module("api-key-rust.wasm")}
`,
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  for (const name of ["api-key-c", "api-key-rust"]) {
    it(`${name}: a listed key reaches the backend as its position, anything else gets 401`, async () => {
      const ok = await fetch(`${gw.url}/${name}/orders/42`, { headers: { "x-api-key": "k-gamma" } });
      assert.equal(ok.status, 200);
      await ok.body?.cancel();
      const seen = upstream.seen.at(-1)!;
      assert.equal(seen.url, "/orders/42");
      assert.equal(seen.headers["x-api-key-index"], "3");
      assert.equal(seen.headers["x-api-key"], undefined, "the key does not reach the backend");
      const before = upstream.seen.length;
      const refused = await fetch(`${gw.url}/${name}/orders/42`, { headers: { "x-api-key": "k-delta" } });
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get("content-type"), "application/json");
      assert.equal(await refused.text(), '{"error":"a valid API key is required"}');
      assert.equal(upstream.seen.length, before, "a refused request never reaches the backend");
      await gw.waitForOutput(new RegExp(`rejected a request without a valid API key.*"policy":"${name}"`));
    });
  }
});
