import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { formatProblem } from "../../config/snapshot/build.ts";
import { compilePolicy } from "../../policies-wasm/compile.ts";
import { readFixtures } from "../policy/fixtures.ts";
import { compileForFixtures, runFixtures } from "../policy/harness.ts";
import { CliError, EXIT, usageError } from "./errors.ts";
import { policyProjectFiles } from "./policy-template.ts";
import { describeError } from "../../config/schema/problems.ts";

/** A policy name: kebab-case, as policies are named in a configuration. */
const NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

function parse<T extends Record<string, { type: "string" }>>(args: string[], options: T, maxPositionals: number) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw usageError(describeError(error));
  }
  if (parsed.positionals.length > maxPositionals) throw usageError(`unexpected argument "${parsed.positionals[maxPositionals]}"`);
  return { values: parsed.values as { [K in keyof T]?: string }, positionals: parsed.positionals };
}

/** Where a project's module goes: `DIR/build/NAME.wasm`, NAME being the folder's name. */
function modulePath(dir: string): string {
  return join(dir, "build", `${basename(resolve(dir))}.wasm`);
}

/** A path as the user would type it from where they are. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") ? rel : path;
}

/** `portico policy new NAME [--dir DIR]`: writes DIR/NAME (DIR defaults to the current directory). */
function newCommand(args: string[], out: (line: string) => void): number {
  const { values, positionals } = parse(args, { dir: { type: "string" } }, 1);
  const name = positionals[0];
  if (name === undefined) throw usageError("policy new takes a NAME");
  if (!NAME.test(name)) throw usageError(`policy new: expected a kebab-case NAME such as add-tenant (got ${JSON.stringify(name)})`);
  const dir = join(values.dir ?? ".", name);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new CliError(`${dir} already exists and is not empty`, EXIT.invalid);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(policyProjectFiles(name))) writeFileSync(join(dir, file), text);
  out(`created ${shown(dir)}: index.ts, fixtures.yaml, README.md`);
  out(`next: portico policy build ${shown(dir)} && portico policy test ${shown(dir)}`);
  return EXIT.ok;
}

/** `portico policy build [DIR]`: compiles DIR/index.ts to DIR/build/NAME.wasm, prints its sha256. */
async function buildCommand(args: string[], out: (line: string) => void): Promise<number> {
  const { positionals } = parse(args, {}, 1);
  const dir = positionals[0] ?? ".";
  const entry = join(dir, "index.ts");
  if (!existsSync(entry)) throw new CliError(`no policy source: ${entry} not found (make a project with portico policy new NAME)`, EXIT.invalid);
  const target = modulePath(dir);
  const problem = await compilePolicy(entry, target);
  if (problem) throw new CliError(`${entry}: the policy does not compile`, EXIT.invalid, problem.split("\n").filter((l) => l.trim()));
  const bytes = readFileSync(target);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const name = basename(resolve(dir));
  out(`built ${shown(target)} (${bytes.length} bytes)`);
  out(`sha256 ${sha256}`);
  out(`policies: { ${name}: { module: ${shown(target)}, sha256: ${sha256} } }`);
  return EXIT.ok;
}

/** `portico policy test [DIR] [--module FILE] [--fixtures FILE]`: runs the fixtures; exit 1 if a case fails. */
async function testCommand(args: string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parse(args, { module: { type: "string" }, fixtures: { type: "string" } }, 1);
  const dir = positionals[0] ?? ".";
  const fixturesFile = values.fixtures ?? join(dir, "fixtures.yaml");
  const moduleFile = values.module ?? modulePath(dir);
  const read = readFixtures(fixturesFile);
  if (!read.ok) {
    const count = read.problems.length;
    throw new CliError(`${fixturesFile}: ${count} problem${count === 1 ? "" : "s"}`, EXIT.invalid, read.problems.map(formatProblem));
  }
  if (!existsSync(moduleFile)) {
    throw new CliError(`${moduleFile}: module not found${values.module ? "" : ` (build it with portico policy build ${dir})`}`, EXIT.invalid);
  }
  const { fixtures } = read;
  let module;
  try {
    module = await compileForFixtures(readFileSync(moduleFile), fixtures);
  } catch (error) {
    throw new CliError(`${moduleFile}: ${describeError(error)}`, EXIT.invalid);
  }
  const policy = fixtures.policy ?? basename(resolve(dir));
  out(`testing ${shown(moduleFile)} (sha256 ${module.digest.slice(0, 12)}) against ${shown(fixturesFile)} as policy "${policy}"`);
  let index = 0;
  let results;
  try {
    results = await runFixtures(module, fixtures, policy, (result) => {
      index += 1;
      const passed = result.differences.length === 0;
      out(`${passed ? "ok  " : "FAIL"} ${index} ${result.name} (${result.ms.toFixed(1)} ms)`);
      for (const line of result.differences) out(`       ${line}`);
    });
  } catch (error) {
    throw new CliError(`${moduleFile}: ${describeError(error)}`, EXIT.invalid);
  }
  const failed = results.filter((r) => r.differences.length > 0).length;
  out(`${results.length} case${results.length === 1 ? "" : "s"}: ${results.length - failed} passed, ${failed} failed`);
  if (failed) {
    throw new CliError(`policy test: ${failed} of ${results.length} case${results.length === 1 ? "" : "s"} failed (${shown(fixturesFile)})`, EXIT.invalid);
  }
  return EXIT.ok;
}

/** `portico policy new|build|test ...`: scaffold, compile and test a policy plugin. */
export function policyCommand(args: string[], out: (line: string) => void): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "new":
      return Promise.resolve(newCommand(rest, out));
    case "build":
      return buildCommand(rest, out);
    case "test":
      return testCommand(rest, out);
    case undefined:
      throw usageError("policy takes new, build or test");
    default:
      throw usageError(`unknown policy command "${sub}" (expected new, build or test)`);
  }
}
