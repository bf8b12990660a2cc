import { readConfigFile } from "../../config/source/file.ts";
import { formatProblem } from "../../config/schema/problems.ts";
import { CliError, EXIT, usageError } from "./errors.ts";

/** `portico validate FILE`: every problem with its path and place, exit 1 if any. */
export function validateCommand(args: string[], out: (line: string) => void): number {
  if (args.length !== 1 || args[0]!.startsWith("-")) throw usageError("validate takes exactly one FILE");
  const file = args[0]!;
  const result = readConfigFile(file);
  if (!result.ok) {
    const count = result.problems.length;
    throw new CliError(`${file}: ${count} problem${count === 1 ? "" : "s"}`, EXIT.invalid, result.problems.map(formatProblem));
  }
  const { apis, backends } = result.config;
  out(`${file}: valid (${apis.length} API${apis.length === 1 ? "" : "s"}, ${Object.keys(backends).length} backend${Object.keys(backends).length === 1 ? "" : "s"}, sha256 ${result.hash})`);
  return EXIT.ok;
}
