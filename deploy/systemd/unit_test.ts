// The systemd unit example and its environment file, checked against the settings and the binary's CLI.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { envName, resolveSettings, SETTING_KEYS } from "../../config/schema/settings.ts";
import { ROOT } from "../../test/harness.ts";

/** A unit file as section → key → values (a key may repeat); comments and blank lines dropped. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[(\w+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const pair = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(pair && current, `line ${index + 1}: ${line}`);
    current.set(pair[1]!, [...(current.get(pair[1]!) ?? []), pair[2]!]);
  }
  return sections;
}

/** An EnvironmentFile: NAME=value per line. */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n").map((l) => l.trim())) {
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    assert.ok(eq > 0, `env line ${line}`);
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

const unit = parseUnit(readFileSync(join(ROOT, "deploy/systemd/portico.service"), "utf8"));
const service = unit.get("Service")!;
const get = (key: string) => service.get(key) ?? [];
const envFile = parseEnvFile(readFileSync(join(ROOT, "deploy/systemd/portico.env"), "utf8"));
const unitEnv = Object.fromEntries(get("Environment").map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));

describe("systemd unit example (deploy/systemd)", () => {
  it("has Unit, Service and Install sections and restarts the gateway", () => {
    assert.deepEqual([...unit.keys()], ["Unit", "Service", "Install"]);
    assert.deepEqual(unit.get("Install")!.get("WantedBy"), ["multi-user.target"]);
    assert.deepEqual(get("Restart"), ["always"]);
    assert.deepEqual(get("ExecStart"), ["/usr/local/bin/portico gateway"]);
    assert.deepEqual(get("ExecReload"), [], "the CLI handles no reload signal");
  });

  it("runs unprivileged, and never forbids writable executable memory (the JavaScript and WebAssembly JITs need it)", () => {
    assert.deepEqual(get("DynamicUser"), ["yes"]);
    assert.deepEqual(get("NoNewPrivileges"), ["yes"]);
    assert.deepEqual(get("MemoryDenyWriteExecute"), []);
  });

  it("keeps the backup in its state directory", () => {
    const backup = unitEnv[envName("config.backup.path")];
    assert.equal(backup, `/var/lib/${get("StateDirectory")[0]}/backup`);
  });

  it("sets only real settings, whose values parse", () => {
    assert.deepEqual(get("EnvironmentFile"), ["/etc/portico/portico.env"]);
    const names = new Set(SETTING_KEYS.map(envName));
    const env = { ...envFile, ...unitEnv };
    for (const name of Object.keys(env)) assert.ok(names.has(name), `${name} is not a Portico setting`);
    const resolved = resolveSettings(undefined, env);
    assert.ok(resolved.ok, JSON.stringify(!resolved.ok && resolved.problems));
    assert.ok(resolved.settings["config.service.endpoint"], "gateway without --config needs a control plane endpoint");
  });
});
