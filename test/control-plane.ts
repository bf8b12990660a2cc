/**
 * Test helpers for the control plane: a real `portico control-plane` child process on a free port
 * with a temporary data directory, and the CLI commands that manage its tokens and keys.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, type GatewayProcess, type PorticoProcess, runCli, spawnPortico, startGatewayProcess, tempDir, waitForOk } from "./harness.ts";

/** A control plane under test. */
export interface ControlPlaneProcess extends PorticoProcess {
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  /** Replaces a file of `DATA/config` atomically (so the watcher never reads half of it). */
  writeConfig(name: string, text: string): void;
  /** The admin API's status document. */
  status(): Promise<AdminStatus>;
}

/** The parts of the admin status that tests read. */
export interface AdminStatus {
  desired: { revision: number; hash: string } | null;
  rejected: { hash: string; problems: string[] } | null;
  gateways: {
    name: string;
    online: boolean;
    desired: { revision: number; hash: string } | null;
    applied: { revision: number; hash: string } | null;
    inSync: boolean;
    lastError: { message: string; revision?: number; hash?: string; problems?: string[] } | null;
    lastAuthFailure: { reason: string } | null;
    tokenExpires: string | null;
  }[];
}

/** Starts a control plane on a free port (or `port`) over `dataDir` (default: a new one), watching every 100 ms unless told. */
export async function startControlPlane(
  options: {
    dataDir?: string;
    port?: number;
    files?: Record<string, string>;
    watchInterval?: string;
    tls?: { certFile: string; keyFile: string };
    /** Extra environment variables of the control plane process (named values read with `{ env }`). */
    env?: Record<string, string>;
  } = {},
): Promise<ControlPlaneProcess> {
  const dataDir = options.dataDir ?? tempDir();
  const configDir = join(dataDir, "config");
  mkdirSync(configDir, { recursive: true });
  const writeConfig = (name: string, text: string) => {
    const temp = join(dataDir, `.${name}.tmp`);
    writeFileSync(temp, text);
    renameSync(temp, join(configDir, name));
  };
  for (const [name, text] of Object.entries(options.files ?? {})) writeConfig(name, text);
  const port = options.port ?? (await freePort());
  const tlsArgs = options.tls ? ["--tls-cert", options.tls.certFile, "--tls-key", options.tls.keyFile] : [];
  const proc = spawnPortico([
    "control-plane",
    "--data",
    dataDir,
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--watch-interval",
    options.watchInterval ?? "100ms",
    ...tlsArgs,
  ], options.env);
  const url = `${options.tls ? "https" : "http"}://127.0.0.1:${port}`;
  // Over HTTPS with a test CA this process's fetch would not trust it: wait for the log line instead.
  if (options.tls) await proc.waitForOutput(/"msg":"control plane started"/, 20_000);
  else await waitForOk(proc, `${url}/healthz`, "control plane");
  return {
    ...proc,
    port,
    url,
    dataDir,
    writeConfig,
    async status() {
      const res = await fetch(`${url}/v1/admin/status`, {
        headers: { authorization: `Bearer ${readFileSync(join(dataDir, "state", "admin-token"), "utf8").trim()}` },
      });
      assert.equal(res.status, 200);
      return (await res.json()) as AdminStatus;
    },
  };
}

/** `portico token create` for a gateway; returns the token. */
export async function createToken(dataDir: string, gateway: string, extra: string[] = []): Promise<string> {
  const result = await runCli(["token", "create", "--gateway", gateway, "--data", dataDir, ...extra]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim();
}

/** `portico key regenerate` for a gateway's key. */
export async function regenerateKey(dataDir: string, gateway: string, key: "primary" | "secondary"): Promise<void> {
  const result = await runCli(["key", "regenerate", "--gateway", gateway, "--key", key, "--data", dataDir]);
  assert.equal(result.code, 0, result.stderr);
}

/** Settings (as environment variables) for a gateway fed by a control plane, with fast sync and heartbeat. */
export function fleetEnv(plane: { url: string }, token: string, backupDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PORTICO_CONFIG_SERVICE_ENDPOINT: plane.url,
    PORTICO_CONFIG_SERVICE_AUTH: token,
    PORTICO_CONFIG_SYNC_INTERVAL: "100ms",
    PORTICO_CONFIG_HEARTBEAT_INTERVAL: "200ms",
    PORTICO_CONFIG_BACKUP_PATH: backupDir,
    ...extra,
  };
}

/** Starts a gateway fed by `plane` with a fresh backup folder (or `backupDir`). */
export function startFleetGateway(
  plane: { url: string },
  token: string,
  options: { backupDir?: string; env?: Record<string, string>; ready?: boolean } = {},
): Promise<GatewayProcess> {
  return startGatewayProcess({ env: fleetEnv(plane, token, options.backupDir ?? tempDir(), options.env), ready: options.ready });
}

/** Polls `check` every 50 ms until it returns true, or fails with `what` after the timeout. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
