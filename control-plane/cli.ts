import { parseArgs } from "node:util";
import { controlPlaneApp } from "./api.ts";
import { ControlPlane, dataLayout } from "./service.ts";
import { KeyStore, parseKeyId } from "./state.ts";
import { KEY_SLOTS, SubscriptionKeyStore } from "./subscriptions.ts";
import { writtenSubscriptions } from "./desired.ts";
import { createToken, type KeyId, MAX_TOKEN_LIFETIME_MS } from "./tokens.ts";
import { parseDuration } from "../config/schema/duration.ts";
import { hostnameFromFiles } from "../config/snapshot/build.ts";
import { isLoopbackHost } from "../config/schema/ip.ts";
import { listenReason } from "../runtime/gateway/gateway.ts";
import { createLogger } from "../runtime/observability/log.ts";
import { CertificateSet } from "../runtime/tls/certificates.ts";
import { defaultServerTls } from "../runtime/tls/limits.ts";
import { loadAdapter } from "../runtime/server/detect.ts";
import type { RunningServer } from "../runtime/server/adapter.ts";
import { CliError, EXIT, usageError } from "../runtime/cli/errors.ts";
import { loadSettings } from "../runtime/cli/gateway.ts";
import { describeError } from "../config/schema/problems.ts";

/** Where a control plane keeps its configuration and state when `--data` is not given. */
const DEFAULT_DATA_DIR = "./.portico/control-plane";

/** The control plane's port when `--port` is not given (interface contract: docs/design/contract.md). */
const DEFAULT_CONTROL_PLANE_PORT = 8079;

/**
 * The address the control plane listens on when `--bind` is not given: loopback over plain HTTP
 * (tokens and TLS keys would cross the network in clear), every interface with a certificate.
 */
export function defaultBindAddress(tls: boolean): string {
  return tls ? "0.0.0.0" : "127.0.0.1";
}

function parse<T extends Record<string, { type: "string" | "boolean" }>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as { [K in keyof T]?: T[K]["type"] extends "string" ? string : boolean };
  } catch (error) {
    throw usageError(describeError(error));
  }
}

function port(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw usageError(`--port: expected a port number from 0 to 65535 (got ${JSON.stringify(value)})`);
  return Number(value);
}

/** A running control plane. */
export interface RunningControlPlane {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `portico control-plane [--data DIR] [--port N] [--bind ADDRESS] [--watch-interval DURATION]
 * [--tls-cert FILE --tls-key FILE]`: serves gateways their configuration from `DIR/config/*.yaml`
 * (watched) and the admin API, over HTTPS when given a certificate. Without one it listens on
 * 127.0.0.1 unless `--bind` says otherwise, and a non-loopback `--bind` over plain HTTP is
 * warned about at start.
 */
export async function controlPlaneCommand(args: string[]): Promise<RunningControlPlane> {
  const values = parse(args, {
    data: { type: "string" },
    port: { type: "string" },
    bind: { type: "string" },
    "watch-interval": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
  });
  if ((values["tls-cert"] === undefined) !== (values["tls-key"] === undefined)) throw usageError("--tls-cert and --tls-key go together");
  let certificates: CertificateSet | undefined;
  try {
    certificates = values["tls-cert"] ? CertificateSet.from([hostnameFromFiles("control-plane", values["tls-cert"], values["tls-key"]!)]) : undefined;
  } catch (error) {
    throw new CliError(`control plane: ${describeError(error).replace(/^hostname control-plane: /, "")}`, EXIT.invalid);
  }
  const interval = values["watch-interval"] === undefined ? 1000 : parseDuration(values["watch-interval"]);
  if (interval === undefined || interval <= 0) {
    throw usageError(`--watch-interval: expected a duration such as "1s" (got ${JSON.stringify(values["watch-interval"])})`);
  }
  const { settings } = loadSettings(undefined, process.env);
  const logger = createLogger(settings["telemetry.logs.std"], {
    level: settings["telemetry.logs.std.level"],
    bufferBytes: settings["telemetry.logs.buffer"],
  });
  const dir = values.data ?? DEFAULT_DATA_DIR;
  let plane: ControlPlane;
  try {
    plane = new ControlPlane(dir, logger);
    plane.reload();
  } catch (error) {
    throw new CliError(`control plane: ${dir}: ${describeError(error)}`, EXIT.invalid);
  }
  plane.watch(interval);
  const adapter = await loadAdapter();
  const hostname = values.bind ?? defaultBindAddress(certificates !== undefined);
  const listenPort = port(values.port, DEFAULT_CONTROL_PLANE_PORT);
  let server: RunningServer;
  try {
    server = await adapter.listen({
      port: listenPort,
      hostname,
      handler: controlPlaneApp(plane, { clientAddress: (request, env) => adapter.clientAddress(request, env) }).fetch,
      // Tokens and the admin token travel in headers: HTTPS keeps them off the wire.
      // Portico's default suites, as on the gateway's listener.
      tls: certificates && { certificates, ...defaultServerTls(adapter.capabilities.tls) },
    });
  } catch (error) {
    plane.close();
    throw new CliError(`cannot listen on ${hostname}:${listenPort}: ${listenReason(error)}`, EXIT.invalid);
  }
  const layout = dataLayout(dir);
  // Before the "started" line, so whoever waits for that line has seen the warning too.
  if (!certificates && !isLoopbackHost(hostname)) {
    logger.warn(
      "INSECURE: the control plane serves plain HTTP on an address reachable from the network: gateway tokens, the admin token and the TLS private keys in views cross it unencrypted. Give it a certificate (--tls-cert, --tls-key) or listen on loopback (--bind 127.0.0.1, the default without a certificate)",
      { bind: hostname, port: server.port },
    );
  }
  logger.info("control plane started", {
    runtime: `${adapter.runtime} ${adapter.version}`,
    bind: hostname,
    port: server.port,
    https: certificates !== undefined,
    config: layout.config,
    adminToken: `${layout.state}/admin-token`,
    revision: plane.revision?.number,
  });
  return {
    port: server.port,
    async close() {
      plane.close();
      await server.close();
    },
  };
}

/** `portico token create --gateway NAME [--key primary|secondary] [--expires 30d] [--data DIR]`: prints a token. */
export function tokenCommand(args: string[], out: (line: string) => void): number {
  const [sub, ...rest] = args;
  if (sub !== "create") throw usageError(sub === undefined ? "token needs a subcommand: create" : `unknown token subcommand "${sub}"`);
  const values = parse(rest, { gateway: { type: "string" }, key: { type: "string" }, expires: { type: "string" }, data: { type: "string" } });
  const gateway = requireGateway(values.gateway);
  const key = keyId(values.key ?? "primary");
  const lifetime = parseDuration(values.expires ?? "30d");
  if (lifetime === undefined || lifetime <= 0) {
    throw usageError(`--expires: expected a duration such as "30d" or "12h" (got ${JSON.stringify(values.expires)})`);
  }
  if (lifetime > MAX_TOKEN_LIFETIME_MS) {
    throw new CliError(`--expires: a token may be valid for at most 30 days (got ${JSON.stringify(values.expires)})`, EXIT.invalid);
  }
  const store = new KeyStore(dataLayout(values.data ?? DEFAULT_DATA_DIR).state);
  const signing = store.ensure(gateway, key);
  out(createToken({ gateway, key, generation: signing.generation, expires: Date.now() + lifetime }, signing));
  return EXIT.ok;
}

/** `portico key regenerate --gateway NAME --key primary|secondary [--data DIR]`: every token of the old key stops working. */
export function keyCommand(args: string[], out: (line: string) => void): number {
  const [sub, ...rest] = args;
  if (sub !== "regenerate") throw usageError(sub === undefined ? "key needs a subcommand: regenerate" : `unknown key subcommand "${sub}"`);
  const values = parse(rest, { gateway: { type: "string" }, key: { type: "string" }, data: { type: "string" } });
  const gateway = requireGateway(values.gateway);
  if (values.key === undefined) throw usageError("key regenerate needs --key primary or --key secondary");
  const key = keyId(values.key);
  const store = new KeyStore(dataLayout(values.data ?? DEFAULT_DATA_DIR).state);
  let generation: number;
  try {
    generation = store.regenerate(gateway, key).generation;
  } catch (error) {
    throw new CliError(`key regenerate: ${describeError(error)}`, EXIT.invalid);
  }
  out(`regenerated the ${key} key of gateway "${gateway}" (generation ${generation}); tokens signed with the old key are refused from now on`);
  return EXIT.ok;
}

/**
 * `portico subscription create|regenerate|list [--data DIR]`: subscription keys made and kept by the
 * control plane. `create --name NAME` makes both keys, `regenerate --name NAME --key primary|secondary`
 * replaces one; each prints its new keys on stdout this once (`primary: KEY`), and only their salted
 * hashes are stored (DIR/state/subscriptions.json). The running control plane puts them in views at
 * the next pull. `list` shows which keys each subscription has and where they come from, never a key.
 * Notes for the operator go to `note` (stderr), so stdout holds only keys.
 */
export function subscriptionCommand(args: string[], out: (line: string) => void, note: (line: string) => void): number {
  const [sub, ...rest] = args;
  const values = parse(rest, { name: { type: "string" }, key: { type: "string" }, data: { type: "string" } });
  const layout = dataLayout(values.data ?? DEFAULT_DATA_DIR);
  const store = new SubscriptionKeyStore(layout.state);
  const run = <T>(what: string, action: () => T): T => {
    try {
      return action();
    } catch (error) {
      throw new CliError(`subscription ${what}: ${describeError(error)}`, EXIT.invalid);
    }
  };
  const written = () => writtenSubscriptions(layout.config);
  const unused = (name: string) => {
    if (!written().some((s) => s.name === name)) {
      note(`note: ${layout.config} has no subscription "${name}" yet; its keys are unused until it does`);
    }
  };
  switch (sub) {
    case "create": {
      if (values.key !== undefined) throw usageError("subscription create makes both keys; --key is for regenerate");
      const name = requireName("--name", values.name);
      const keys = run("create", () => store.create(name));
      for (const slot of KEY_SLOTS) out(`${slot}: ${keys[slot]}`);
      note(`subscription "${name}": keys stored as salted hashes in ${store.path}; they are shown this once`);
      unused(name);
      return EXIT.ok;
    }
    case "regenerate": {
      const name = requireName("--name", values.name);
      if (values.key === undefined) throw usageError("subscription regenerate needs --key primary or --key secondary");
      const slot = keyId(values.key);
      const known = written().some((s) => s.name === name);
      const key = run("regenerate", () => store.regenerate(name, slot, known));
      out(`${slot}: ${key}`);
      note(`subscription "${name}": ${slot} key replaced; the old one is refused once gateways have synced (one sync interval)`);
      unused(name);
      return EXIT.ok;
    }
    case "list": {
      if (values.name !== undefined || values.key !== undefined) throw usageError("subscription list takes only --data");
      const stored = run("list", () => store.read().byName);
      const rows: string[][] = [["NAME", "STATE", "PRIMARY", "SECONDARY", ""]];
      const source = (inStore: boolean, inConfig: boolean) => (inStore ? "stored" : inConfig ? "configuration" : "-");
      const listed = new Set<string>();
      for (const s of written()) {
        listed.add(s.name);
        const primary = source(stored.get(s.name)?.primary !== undefined, s.primaryKey);
        const secondary = source(stored.get(s.name)?.secondary !== undefined, s.secondaryKey);
        rows.push([s.name, s.state, primary, secondary, primary === "-" && secondary === "-" ? "(no keys: passes no request)" : ""]);
      }
      for (const [name, keys] of stored) {
        if (!listed.has(name)) {
          rows.push([
            name,
            "unused",
            source(keys.primary !== undefined, false),
            source(keys.secondary !== undefined, false),
            "(not in the desired configuration)",
          ]);
        }
      }
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const row of rows) out(row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd());
      return EXIT.ok;
    }
    default:
      throw usageError(sub === undefined ? "subscription needs a subcommand: create, regenerate or list" : `unknown subscription subcommand "${sub}"`);
  }
}

function requireName(option: string, value: string | undefined): string {
  if (value === undefined) throw usageError(`${option} NAME is required`);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)) {
    throw new CliError(`${option}: expected a name of letters, digits, '.', '_' or '-' (got ${JSON.stringify(value)})`, EXIT.invalid);
  }
  return value;
}

function requireGateway(value: string | undefined): string {
  if (value === undefined) throw usageError("--gateway NAME is required");
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)) {
    throw new CliError(`--gateway: expected a name of letters, digits, '.', '_' or '-' (got ${JSON.stringify(value)})`, EXIT.invalid);
  }
  return value;
}

function keyId(value: string): KeyId {
  const key = parseKeyId(value);
  if (!key) throw usageError(`--key: expected primary or secondary (got ${JSON.stringify(value)})`);
  return key;
}
