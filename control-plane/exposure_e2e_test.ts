import assert from "node:assert/strict";
import { connect } from "node:net";
import { networkInterfaces } from "node:os";
import { after, describe, it } from "node:test";
import { issue, makeCa } from "../test/certificates.ts";
import { freePort, type PorticoProcess, spawnPortico, tempDir, waitForOk } from "../test/harness.ts";
import { defaultBindAddress } from "./cli.ts";

/** An IPv4 address of this machine that is not loopback, if it has one. */
function networkAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) if (entry.family === "IPv4" && !entry.internal) return entry.address;
  }
  return undefined;
}

/** Resolves to "connected" or the connection error's code. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

const STARTED = /"msg":"control plane started"[^\n]*/;
const INSECURE = /\{"time":"[^"]+","level":"warn","msg":"INSECURE: the control plane serves plain HTTP on an address reachable from the network[^\n]*/;

describe("control plane exposure", { timeout: 60_000 }, () => {
  const running: PorticoProcess[] = [];
  after(async () => {
    await Promise.all(running.map((p) => p.stop()));
  });

  const start = async (args: string[]) => {
    const port = await freePort();
    const proc = spawnPortico(["control-plane", "--data", tempDir(), "--port", String(port), ...args]);
    running.push(proc);
    await proc.waitForOutput(STARTED, 20_000);
    return { proc, port };
  };

  it("listens on 127.0.0.1 without a certificate and without --bind, and does not warn", async () => {
    assert.equal(defaultBindAddress(false), "127.0.0.1");
    const { proc, port } = await start([]);
    assert.match(proc.output(), /"msg":"control plane started".*"bind":"127\.0\.0\.1".*"https":false/);
    await waitForOk(proc, `http://127.0.0.1:${port}/healthz`, "control plane");
    const address = networkAddress();
    if (address) assert.equal(await tryConnect(address, port), "ECONNREFUSED", `not reachable on ${address}`);
    else console.log("this machine has no non-loopback IPv4 address: only the log line and loopback were checked");
    assert.doesNotMatch(proc.output(), INSECURE);
    await proc.stop();
  });

  it("warns at start when told to bind an address reachable from the network over plain HTTP", async () => {
    const { proc, port } = await start(["--bind", "0.0.0.0"]);
    const line = INSECURE.exec(proc.output())?.[0];
    assert.ok(line, proc.output());
    assert.deepEqual({ bind: JSON.parse(line).bind, port: JSON.parse(line).port }, { bind: "0.0.0.0", port });
    const address = networkAddress();
    if (address) assert.equal(await tryConnect(address, port), "connected", `reachable on ${address}, as asked`);
    await proc.stop();
  });

  it("does not warn for an explicit loopback --bind (localhost, 127.0.0.2)", async () => {
    for (const bind of ["localhost", "127.0.0.2"]) {
      const { proc } = await start(["--bind", bind]);
      assert.match(proc.output(), new RegExp(`"bind":"${bind.replace(/\./g, "\\.")}"`));
      assert.doesNotMatch(proc.output(), INSECURE);
      await proc.stop();
    }
  });

  it("keeps listening on every interface with a certificate, and does not warn", async () => {
    assert.equal(defaultBindAddress(true), "0.0.0.0");
    const dir = tempDir();
    const cert = issue(dir, makeCa(dir), "control-plane.test", "cp", ["IP:127.0.0.1"]);
    const { proc } = await start(["--tls-cert", cert.certFile, "--tls-key", cert.keyFile]);
    assert.match(proc.output(), /"msg":"control plane started".*"bind":"0\.0\.0\.0".*"https":true/);
    assert.doesNotMatch(proc.output(), INSECURE);
    await proc.stop();
  });
});

describe("gateway: a control plane endpoint over plain HTTP to the network", { timeout: 60_000 }, () => {
  const WARNING = /\{"time":"[^"]+","level":"warn","msg":"config\.service\.endpoint is plain HTTP to a host that is not loopback[^\n]*/;
  // The token's signature does not matter: these gateways never get a configuration.
  const token = `edge&primary&1&${Math.floor(Date.now() / 1000) + 86_400}&${"A".repeat(43)}`;
  const gateway = (endpoint: string) =>
    spawnPortico(["gateway"], {
      PORTICO_CONFIG_SERVICE_ENDPOINT: endpoint,
      PORTICO_CONFIG_SERVICE_AUTH: token,
      PORTICO_CONFIG_SYNC_INTERVAL: "100ms",
      PORTICO_CONFIG_BACKUP_ENABLED: "false",
    });

  it("is warned about at start, the warning naming the origin only", async () => {
    const proc = gateway("http://198.51.100.1:9/base");
    try {
      await proc.waitForOutput(WARNING, 20_000);
      const text = WARNING.exec(proc.output())![0];
      assert.equal(JSON.parse(text).endpoint, "http://198.51.100.1:9");
    } finally {
      await proc.stop();
    }
  });

  it("refuses an endpoint with a password in it at start, without printing the password", async () => {
    const proc = gateway("http://user:secret-password@198.51.100.1:9/base");
    assert.equal(await proc.exited(), 1, proc.output());
    assert.match(proc.output(), /config\.service\.endpoint: must not carry a user name or password/);
    assert.doesNotMatch(proc.output(), /secret-password/);
  });

  it("is not warned about over HTTPS, or over plain HTTP to loopback", async () => {
    for (const endpoint of ["https://198.51.100.1:9", `http://127.0.0.1:${await freePort()}`, "http://localhost:9"]) {
      const proc = gateway(endpoint);
      // Without a control plane or a backup, it exits after the first attempt: everything it had to say at start is out.
      assert.equal(await proc.exited(), 1, proc.output());
      assert.match(proc.output(), /no configuration to serve/);
      assert.doesNotMatch(proc.output(), WARNING, endpoint);
    }
  });
});
