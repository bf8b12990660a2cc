/**
 * Starts test/tls-backend.ts (always on Node, so every runtime's gateway meets the same TLS server)
 * as a child process, for the backend TLS and egress proxy tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { ROOT } from "./harness.ts";

/** What the TLS backend is started with (test/tls-backend.ts's options). */
export interface TlsBackendOptions {
  readonly cert: string;
  readonly key: string;
  /** CA for client certificates; with it, a client certificate is required. */
  readonly clientCa?: string;
  /** The only suites it accepts (OpenSSL names), and its highest version: a weak backend. */
  readonly ciphers?: string;
  readonly maxVersion?: string;
}

/** Starts a TLS backend that reports each handshake; resolves with its port once it listens. */
export function startTlsBackend(options: TlsBackendOptions): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn("node", ["--import", "tsx", "test/tls-backend.ts", JSON.stringify(options)], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const match = /listening (\d+)/.exec(out);
      if (match) resolve({ port: Number(match[1]), child });
    });
    child.once("exit", (code) => reject(new Error(`TLS backend exited with ${code}`)));
  });
}
