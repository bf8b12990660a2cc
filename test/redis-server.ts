/**
 * Real `redis-server` processes for tests (the Debian package, installed by `.ci/run`): one server,
 * a Sentinel watching one, or a Cluster of three, each on a free loopback port with its files in a temporary directory,
 * without persistence. `stop()` and `start()` stop and start a server on the same port, so tests can
 * take Redis away in the middle of a load and bring it back.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, createServer } from "node:net";
import { freePort, tempDir } from "./harness.ts";

/** A `redis-server` under test. */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string;
  /** Starts it again (on the same port) after `stop()`; resolves once it answers PING. */
  start(): Promise<void>;
  /** Stops it (SIGKILL: a crash, not a clean shutdown) and waits for it to exit. */
  stop(): Promise<void>;
  /** Runs `redis-cli` against it; resolves with its output (throws when it fails). */
  cli(...args: string[]): string;
}

/** Options of a test server. */
export interface RedisServerOptions {
  /** `requirepass`: clients must authenticate with it. */
  readonly password?: string;
  /** Start as a Cluster node (`cluster-enabled yes`). */
  readonly cluster?: boolean;
  /** A command prefix such as `["taskset", "-c", "1"]` (benchmarks keep Redis off the gateway's CPU). */
  readonly pin?: readonly string[];
}

/** Servers started by this test process, stopped when it exits (even after a failed test). */
const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** Resolves once a Redis answers PING on `port` (raw RESP over TCP), or rejects after `timeoutMs`. */
async function pingable(port: number, password: string | undefined, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answered = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      let seen = "";
      socket.setTimeout(500, () => (socket.destroy(), resolve(false)));
      socket.on("error", () => resolve(false));
      socket.on("connect", () => socket.write((password ? `AUTH ${password}\r\n` : "") + "PING\r\n"));
      socket.on("data", (d) => {
        seen += d.toString();
        if (seen.includes("+PONG")) {
          socket.destroy();
          resolve(true);
        }
      });
    });
    if (answered) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether `port` can be bound on loopback now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A free port whose Cluster bus port (port + 10000) is free and valid too. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 <= 65_535 && await bindable(port + 10_000)) return port;
  }
}

/** Starts a `redis-server` on a free loopback port; resolves once it answers PING. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.cluster ? await clusterPort() : await freePort();
  const dir = tempDir();
  let child: ChildProcess | undefined;
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    "no",
    ...(options.password ? ["--requirepass", options.password] : []),
    ...(options.cluster ? ["--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf"), "--cluster-node-timeout", "2000"] : []),
  ];
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      if (child) return;
      const [command, ...prefix] = [...(options.pin ?? []), "redis-server"];
      const started = spawn(command!, [...prefix, ...args], { stdio: "ignore" });
      child = started;
      running.add(started);
      started.on("exit", () => {
        running.delete(started);
        if (child === started) child = undefined;
      });
      await pingable(port, options.password);
    },
    async stop() {
      const stopping = child;
      if (!stopping) return;
      const exited = new Promise((resolve) => stopping.once("exit", resolve));
      stopping.kill("SIGKILL");
      await exited;
    },
    cli(...cliArgs: string[]) {
      const result = spawnSync("redis-cli", ["-p", String(port), ...(options.password ? ["-a", options.password, "--no-auth-warning"] : []), ...cliArgs], {
        encoding: "utf8",
      });
      if (result.status !== 0) throw new Error(`redis-cli ${cliArgs.join(" ")} failed: ${result.stderr}${result.stdout}`);
      return result.stdout;
    },
  };
  await server.start();
  return server;
}

/** A Cluster of three `redis-server` nodes (no replicas), every slot assigned. */
export interface RedisCluster {
  readonly nodes: readonly RedisServer[];
  /** `127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`, as `cache.redis.cluster.nodes` takes them. */
  readonly seeds: string;
  stop(): Promise<void>;
}

/** Starts three Cluster nodes and joins them (`redis-cli --cluster create`); resolves once the cluster is ok. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const nodes = await Promise.all([0, 1, 2].map(() => startRedisServer({ cluster: true })));
  const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
  nodes[0]!.cli("--cluster", "create", ...addresses, "--cluster-replicas", "0", "--cluster-yes");
  const deadline = Date.now() + 15_000;
  while (!nodes.every((n) => /cluster_state:ok/.test(n.cli("cluster", "info")))) {
    if (Date.now() > deadline) throw new Error("the Redis Cluster did not become ok within 15 s");
    await new Promise((r) => setTimeout(r, 100));
  }
  return { nodes, seeds: addresses.join(","), stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))) };
}

/** A Sentinel (`redis-server --sentinel`) watching one server as its only primary. */
export interface RedisSentinel {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Starts a Sentinel on a free loopback port that watches `primary` under the name `master` (quorum
 * 1, authenticating with `password` when the primary has one); resolves once it knows the primary.
 */
export async function startRedisSentinel(primary: RedisServer, master: string, password?: string): Promise<RedisSentinel> {
  const port = await freePort();
  const dir = tempDir();
  const conf = join(dir, "sentinel.conf");
  const lines = [`port ${port}`, "bind 127.0.0.1", `dir ${dir}`, `sentinel monitor ${master} 127.0.0.1 ${primary.port} 1`];
  if (password) lines.push(`sentinel auth-pass ${master} ${password}`);
  writeFileSync(conf, lines.join("\n") + "\n");
  const child = spawn("redis-server", [conf, "--sentinel"], { stdio: "ignore" });
  running.add(child);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  void exited.then(() => running.delete(child));
  await pingable(port, undefined);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answer = spawnSync("redis-cli", ["-p", String(port), "sentinel", "get-master-addr-by-name", master], { encoding: "utf8" });
    if (answer.stdout.includes(String(primary.port))) break;
    if (Date.now() > deadline) throw new Error(`the Sentinel on port ${port} does not know ${master}: ${answer.stdout}${answer.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    async stop() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}
