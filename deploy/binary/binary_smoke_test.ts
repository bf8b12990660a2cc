import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { type BuildResult, ensureBinaries, type Platform } from "./build.ts";
import { runBinary, startQuickstart } from "./launch.ts";

// The binaries are built once per set of inputs (dist/binaries.json), so bun test, deno test and
// node --test share one build. Neither smoke test is ever skipped: a missing emulator fails with
// the package to install.
let build: BuildResult;

/** Serves one request of the quickstart through the binary and checks both WebAssembly policies ran. */
async function smoke(platform: Platform, readyTimeoutMs: number): Promise<void> {
  const version = await runBinary(platform, ["--version"]);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), `portico ${build.version} (commit ${build.commit})`);

  const gateway = await startQuickstart(platform, readyTimeoutMs);
  try {
    const res = await fetch(`${gateway.url}/echo/hello?name=portico`);
    assert.equal(res.status, 200, gateway.output());
    assert.equal(res.headers.get("x-served-by"), "portico", "the outbound set-header policy (embedded WebAssembly) ran");
    const seen = (await res.json()) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, "/hello?name=portico");
    assert.equal(seen.headers["x-request-source"], "portico-quickstart", "the inbound set-header policy (embedded WebAssembly) ran");
    const status = await fetch(`${gateway.url}/status-0123456789abcdef`);
    await status.body?.cancel();
    assert.equal(status.status, 200);
    const port = new URL(gateway.url).port;
    const health = await runBinary(platform, ["health"], { PORTICO_NET_SERVER_HTTP_PORT: port });
    assert.equal(health.code, 0, `portico health (the container HEALTHCHECK): ${health.stderr}`);
    assert.match(health.stdout, new RegExp(`127\\.0\\.0\\.1:${port}/status-0123456789abcdef: ok`));
  } finally {
    await gateway.stop();
  }
}

describe("single-file binaries (npm run build:binary)", () => {
  before(() => {
    build = ensureBinaries();
  });

  it("linux-x64 starts the quickstart from an empty directory and serves a request through its embedded WebAssembly policies", async () => {
    await smoke("linux-x64", 30_000);
  });

  it("linux-arm64 does the same under qemu-aarch64-static", async () => {
    await smoke("linux-arm64", 120_000);
  });

  it("a binary that cannot start says why, with exit code 1", async () => {
    const res = await runBinary("linux-x64", ["gateway", "--config", "/nonexistent/portico.yaml"]);
    assert.equal(res.code, 1, `stdout: ${res.stdout}\nstderr: ${res.stderr}`);
    assert.match(res.stderr, /\/nonexistent\/portico\.yaml/);
  });
});
