// No container engine runs in CI, so the Containerfile is checked statically: its stages, the user,
// the ports and the health check against the settings, and that every path it copies exists.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { posix } from "node:path";
import { describe, it } from "node:test";
import { envName, resolveSettings, SETTING_KEYS } from "../config/schema/settings.ts";
import { healthUrl } from "../runtime/cli/health.ts";
import { STATUS_PATH } from "../runtime/gateway/traffic.ts";
import { ROOT } from "../test/harness.ts";

/** One instruction: its keyword, its flags (`--from=build`) and the rest of the line. */
interface Instruction {
  readonly keyword: string;
  readonly flags: Record<string, string>;
  readonly args: string;
  readonly line: number;
}

/** A stage: its base image, its name and its instructions. */
interface Stage {
  readonly from: string;
  readonly platform?: string;
  readonly name?: string;
  readonly instructions: Instruction[];
}

/** Parses a Containerfile: comments dropped, `\` continuations joined, instructions grouped by stage. */
function parseContainerfile(text: string): { stages: Stage[]; globalArgs: Instruction[] } {
  const instructions: Instruction[] = [];
  let pending = "";
  let startLine = 0;
  text.split("\n").forEach((raw, index) => {
    const trimmed = raw.trim();
    if (!pending && (trimmed === "" || trimmed.startsWith("#"))) return;
    if (pending && trimmed.startsWith("#")) return;
    if (!pending) startLine = index + 1;
    if (trimmed.endsWith("\\")) {
      pending += `${trimmed.slice(0, -1)} `;
      return;
    }
    const whole = `${pending}${trimmed}`;
    pending = "";
    const match = /^(\S+)\s*(.*)$/.exec(whole)!;
    let rest = match[2]!;
    const flags: Record<string, string> = {};
    for (let flag = /^--([a-z-]+)=(\S+)\s*/.exec(rest); flag; flag = /^--([a-z-]+)=(\S+)\s*/.exec(rest)) {
      flags[flag[1]!] = flag[2]!;
      rest = rest.slice(flag[0].length);
    }
    instructions.push({ keyword: match[1]!.toUpperCase(), flags, args: rest, line: startLine });
  });
  assert.equal(pending, "", "the Containerfile ends inside a line continuation");
  const stages: Stage[] = [];
  const globalArgs: Instruction[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const [from, as, name] = instruction.args.split(/\s+/);
      assert.ok(as === undefined || as.toUpperCase() === "AS", `line ${instruction.line}: FROM ${instruction.args}`);
      stages.push({ from: from!, platform: instruction.flags.platform, name, instructions: [] });
    } else if (stages.length === 0) {
      assert.equal(instruction.keyword, "ARG", `line ${instruction.line}: only ARG may come before the first FROM`);
      globalArgs.push(instruction);
    } else stages.at(-1)!.instructions.push(instruction);
  }
  return { stages, globalArgs };
}

const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const only = (stage: Stage, keyword: string) => {
  const found = all(stage, keyword);
  assert.equal(found.length, 1, `expected one ${keyword} in stage ${stage.name}, found ${found.length}`);
  return found[0]!;
};
/** The JSON (exec) form of an instruction's arguments. */
const execForm = (instruction: Instruction): string[] => {
  const json = instruction.args.replace(/^(--[a-z-]+=\S+\s+)*CMD\s+/, "");
  const parsed = JSON.parse(json) as unknown;
  assert.ok(Array.isArray(parsed), `line ${instruction.line}: use the exec (JSON) form`);
  return parsed as string[];
};
/** `ENV A=1 B=2` (or the legacy `ENV A 1`) as a map. */
const envOf = (stage: Stage): Record<string, string> => {
  const env: Record<string, string> = {};
  for (const { args } of all(stage, "ENV")) {
    const pairs = [...args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)];
    if (pairs.length === 0) {
      const [key, ...value] = args.split(/\s+/);
      env[key!] = value.join(" ");
    }
    for (const [, key, value] of pairs) env[key!] = value!.startsWith('"') ? (JSON.parse(value!) as string) : value!;
  }
  return env;
};

const containerfile = readFileSync(`${ROOT}Containerfile`, "utf8");
const { stages } = parseContainerfile(containerfile);
const build = stages.find((s) => s.name === "build");
const runtime = stages.at(-1)!;

describe("Containerfile", () => {
  it("has a build stage on the build platform and a small runtime stage last", () => {
    assert.ok(build, "a stage named build");
    assert.equal(build.platform, "$BUILDPLATFORM", "the build stage runs natively and cross-compiles");
    assert.equal(runtime.name, "runtime");
    assert.notEqual(runtime, build);
    assert.match(runtime.from, /distroless|-slim|alpine/, `runtime base ${runtime.from} is not a small image`);
    for (const stage of stages) assert.match(stage.from, /[:@]/, `${stage.from}: pin a tag or digest`);
  });

  it("builds either architecture from build arguments", () => {
    const args = all(build!, "ARG").map((a) => a.args.split("=")[0]);
    assert.ok(args.includes("TARGETARCH"), "ARG TARGETARCH (set from --platform by buildah and docker)");
    assert.ok(args.includes("PORTICO_PLATFORM"), "ARG PORTICO_PLATFORM (explicit override)");
    const script = all(build!, "RUN").map((r) => r.args).join("\n");
    assert.match(script, /amd64\) platform=linux-x64/);
    assert.match(script, /arm64\) platform=linux-arm64/);
    assert.match(script, /deploy\/binary\/build\.ts --target "\$platform"/);
  });

  it("runs as a non-root user, with the binary as entry point", () => {
    const user = only(runtime, "USER").args;
    assert.match(user, /^\d+(:\d+)?$/, "a numeric user (Kubernetes runAsNonRoot can check it)");
    assert.notEqual(user.split(":")[0], "0");
    const entrypoint = execForm(only(runtime, "ENTRYPOINT"));
    assert.deepEqual(entrypoint, ["/usr/local/bin/portico"]);
    const copied = all(runtime, "COPY").map((c) => c.args.split(/\s+/).at(-1));
    assert.ok(copied.includes(entrypoint[0]), "the entry point is copied from the build stage");
    assert.equal(execForm(only(runtime, "CMD"))[0], "gateway");
  });

  it("exposes the default ports of the settings and checks health on the status probe, the path its comment names", () => {
    const defaults = resolveSettings(undefined, envOf(runtime));
    assert.ok(defaults.ok);
    const exposed = only(runtime, "EXPOSE").args.split(/\s+/).map(Number);
    for (const key of ["net.server.http.port", "net.server.https.port", "net.management.port"] as const) {
      assert.ok(exposed.includes(defaults.settings[key]), `EXPOSE ${defaults.settings[key]} (${key})`);
    }
    const healthcheck = only(runtime, "HEALTHCHECK");
    assert.deepEqual(execForm(healthcheck), ["/usr/local/bin/portico", "health"]);
    assert.equal(healthUrl(defaults.settings), "http://127.0.0.1:8080/status-0123456789abcdef");
    // The comment above HEALTHCHECK says which path `portico health` asks; a Containerfile cannot import the constant.
    assert.ok(containerfile.includes(`# \`portico health\` asks GET ${STATUS_PATH} `), "the Containerfile's comment names STATUS_PATH");
    for (const flag of ["interval", "timeout", "retries"]) assert.ok(healthcheck.flags[flag], `HEALTHCHECK --${flag}`);
  });

  it("keeps the configuration backup on a volume, and sets only real settings", () => {
    const env = envOf(runtime);
    const names = new Set(SETTING_KEYS.map(envName));
    for (const key of Object.keys(env).filter((k) => k.startsWith("PORTICO_"))) assert.ok(names.has(key), `${key} is not a setting`);
    const backup = env[envName("config.backup.path")];
    assert.ok(backup, "PORTICO_CONFIG_BACKUP_PATH is set");
    const volumes = JSON.parse(only(runtime, "VOLUME").args) as string[];
    assert.ok(
      volumes.some((v) => backup === v || backup.startsWith(`${v}/`)),
      `backup path ${backup} is inside a volume (${volumes.join(", ")})`,
    );
    const owned = all(runtime, "COPY").find((c) => c.flags.chown && volumes.includes(c.args.split(/\s+/).at(-1)!));
    assert.ok(owned, "the volume directory is created owned by the non-root user");
    assert.equal(owned.flags.chown, only(runtime, "USER").args);
  });

  it("copies only paths that exist in the repository, or from a stage defined before", () => {
    const ignored = readFileSync(`${ROOT}.dockerignore`, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    let copies = 0;
    stages.forEach((stage, index) => {
      for (const copy of [...all(stage, "COPY"), ...all(stage, "ADD")]) {
        const parts = copy.args.split(/\s+/);
        const sources = parts.slice(0, -1);
        assert.ok(sources.length > 0, `line ${copy.line}: COPY needs a source and a destination`);
        const from = copy.flags.from;
        if (from) {
          assert.ok(stages.slice(0, index).some((s) => s.name === from), `line ${copy.line}: --from=${from} is not an earlier stage`);
          continue;
        }
        for (const source of sources) {
          copies++;
          assert.ok(existsSync(`${ROOT}${source}`), `line ${copy.line}: ${source} does not exist`);
          const top = posix.normalize(source).split("/")[0];
          assert.ok(!ignored.includes(top!) && !ignored.includes(posix.normalize(source)), `line ${copy.line}: ${source} is excluded by .dockerignore`);
        }
      }
    });
    assert.ok(copies >= 5, "the build stage copies the sources");
  });
});
