/** Starts test/http2-backend.ts on Node as a child process, for the HTTP/2 backend tests. */
import { type ChildProcess, spawn } from "node:child_process";
import { ROOT } from "./harness.ts";

/** The HTTP/2 test backends' ports, and the child to stop. */
export interface Http2Backends {
  readonly h2c: number;
  readonly tls: number;
  readonly http1: number;
  /** h2c, GOAWAY on the 30th stream of a session (later streams refused). */
  readonly goaway: number;
  /** `http://127.0.0.1:PORT/state`: sessions per HTTP/2 server, streams cancelled before their answer. */
  readonly state: number;
  readonly child: ChildProcess;
}

/** What the backends counted so far. */
export interface Http2BackendState {
  readonly sessions: { readonly h2c: number; readonly tls: number; readonly goaway: number };
  readonly cancelled: number;
  /** GOAWAY frames the goaway server sent. */
  readonly goaways: number;
}

/** Starts the backends with this certificate (PEM text); resolves once all of them listen. */
export function startHttp2Backends(cert: string, key: string): Promise<Http2Backends> {
  const child = spawn("node", ["--import", "tsx", "test/http2-backend.ts", JSON.stringify({ cert, key })], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const match = /listening (\{.*\})/.exec(out);
      if (match) resolve({ ...(JSON.parse(match[1]!) as Omit<Http2Backends, "child">), child });
    });
    child.once("exit", (code) => reject(new Error(`HTTP/2 backends exited with ${code}`)));
  });
}

/** The backends' counters now. */
export async function http2BackendState(backends: Http2Backends): Promise<Http2BackendState> {
  return (await (await fetch(`http://127.0.0.1:${backends.state}/state`)).json()) as Http2BackendState;
}
