/**
 * The arms a scenario can put load on: the upstream itself, nginx, a Portico gateway on Bun, Deno
 * or Node, each runtime's own bare proxy (bench/bare.ts, the ceiling a gateway on that runtime is
 * compared with), and the JavaScript peer (`@fastify/http-proxy` on Node). A plan says how to start one;
 * `startArm` starts it pinned to the proxy CPU and waits until it serves the upstream's body.
 */
import { join } from "node:path";
import { type Bench, ROOT } from "./context.ts";
import { nginxCommand } from "./nginx.ts";
import { freePort, type Server, startServer, waitForOk } from "./procs.ts";

/** Every arm, in report order. */
export const ALL_ARMS = ["direct", "nginx", "bun-bare", "bun", "deno-bare", "deno", "node-bare", "node", "peer"] as const;
/** The name of an arm. */
export type ArmName = (typeof ALL_ARMS)[number];
/** The runtimes a Portico gateway runs on. */
export const RUNTIMES = ["bun", "deno", "node"] as const;
/** A runtime a Portico gateway runs on. */
export type Runtime = (typeof RUNTIMES)[number];

/** How to start an arm (nothing to start for direct) and where to send load. */
export interface ArmPlan {
  readonly name: string;
  /** What serves the requests, with its version, e.g. `Bun 1.4.5`. */
  readonly runtime: string;
  readonly argv?: string[];
  readonly env?: NodeJS.ProcessEnv;
  /** URL that answers 200 once the server is ready. */
  readonly readyUrl?: string;
  /** Where load goes: `http://127.0.0.1:PORT` + the scenario's path. */
  readonly url: string;
  /** A gateway's management base URL (for `/readyz`), else undefined. */
  readonly managementUrl?: string;
  /** Where the server runs from (a checkout of the repository); default: this one. */
  readonly cwd?: string;
}

/** The plan for a Portico gateway on `runtime` serving `configFile` (watched: standalone mode). */
export async function gatewayPlan(bench: Bench, runtime: Runtime, configFile: string, path = "/"): Promise<ArmPlan> {
  const port = await freePort();
  const mgmt = await freePort();
  const cli = runtimeCommand(bench, runtime);
  const env = {
    ...process.env,
    PORTICO_NET_SERVER_HTTP_PORT: String(port),
    PORTICO_NET_SERVER_BIND_ADDRESS: "127.0.0.1",
    PORTICO_NET_MANAGEMENT_PORT: String(mgmt),
    PORTICO_NET_MANAGEMENT_BIND_ADDRESS: "127.0.0.1",
    PORTICO_TELEMETRY_LOGS_STD: "none",
    PORTICO_CONFIG_BACKUP_PATH: join(bench.dir, `backup-${runtime}-${port}`),
  };
  const argv = [...bench.proxyPin, ...cli, "runtime/cli.ts", "gateway", "--config", configFile];
  const managementUrl = `http://127.0.0.1:${mgmt}`;
  return {
    name: runtime,
    runtime: bench.versions[runtime],
    argv,
    env,
    readyUrl: `${managementUrl}/readyz`,
    url: `http://127.0.0.1:${port}${path}`,
    managementUrl,
  };
}

/** How to run a TypeScript file on `runtime`. */
function runtimeCommand(bench: Bench, runtime: Runtime): string[] {
  return { bun: [bench.bun], deno: [bench.deno, "run", "-A"], node: [bench.node, "--import", "tsx"] }[runtime];
}

/** A bare arm's name (`bun-bare`) gives its runtime; others give undefined. */
export function bareRuntime(name: string): Runtime | undefined {
  const runtime = name.endsWith("-bare") ? name.slice(0, -"-bare".length) : undefined;
  return RUNTIMES.includes(runtime as Runtime) ? runtime as Runtime : undefined;
}

/** The plan for `name` (undefined for nginx when it is not installed); gateways serve `configFile` (default: the bench's). */
export async function armPlan(bench: Bench, name: ArmName, path = "/", configFile = bench.configFile): Promise<ArmPlan | undefined> {
  if (name === "direct") return { name, runtime: `${bench.versions.bun} (upstream)`, url: `http://127.0.0.1:${bench.upstreamPort}${path}` };
  if (RUNTIMES.includes(name as Runtime)) return gatewayPlan(bench, name as Runtime, configFile, path);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}${path}`;
  const bare = bareRuntime(name);
  if (bare) {
    const argv = [...bench.proxyPin, ...runtimeCommand(bench, bare), "bench/bare.ts", String(port), `http://127.0.0.1:${bench.upstreamPort}`];
    return { name, runtime: `bare ${bench.versions[bare]}`, argv, readyUrl: url, url };
  }
  if (name === "nginx") {
    if (!bench.nginx) return undefined;
    const argv = [...bench.proxyPin, ...nginxCommand(bench.nginx, join(bench.dir, `nginx-${port}`), port, bench.upstreamPort)];
    return { name, runtime: bench.versions.nginx, argv, readyUrl: url, url };
  }
  const argv = [...bench.proxyPin, bench.node, "--import", "tsx", "bench/peer.ts", String(port), `http://127.0.0.1:${bench.upstreamPort}`];
  return { name, runtime: `@fastify/http-proxy on ${bench.versions.node}`, argv, readyUrl: url, url };
}

/**
 * Starts the arm's server (if any), waits for readiness, and checks one request through it returns
 * `expectBody`. Returns the server (undefined for direct); on failure it is stopped and this throws.
 */
export async function startArm(bench: Bench, plan: ArmPlan, expectBody: string): Promise<Server | undefined> {
  let server: Server | undefined;
  try {
    if (plan.argv) {
      server = startServer(plan.name, plan.argv, { cwd: plan.cwd ?? ROOT, env: plan.env, logFile: join(bench.dir, `${plan.name}-${Date.now()}.log`) });
      await waitForOk(plan.readyUrl!, 30_000, server);
    }
    const body = await waitForOk(plan.url, 10_000, server);
    if (body !== expectBody) throw new Error(`unexpected body from ${plan.url}: ${JSON.stringify(body.slice(0, 80))}`);
    return server;
  } catch (error) {
    await server?.stop();
    throw error;
  }
}

/** Throws (with the server's log tail) if `server` has exited; `when` names the moment, e.g. "run 2". */
export async function assertAlive(server: Server | undefined, when: string): Promise<void> {
  if (server?.hasExited()) throw new Error(`${server.name} exited (${await server.exited}) during ${when}: ${server.errorLine()}\n${server.logTail()}`);
}
