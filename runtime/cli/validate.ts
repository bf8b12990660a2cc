import { formatProblem } from "../../config/snapshot/build.ts";
import { readConfigFile } from "../../config/source/file.ts";
import { CliError, EXIT, usageError } from "./errors.ts";

/**
 * `portico validate FILE`: every problem with its path and place, exit 1 if any. The file is built
 * the way a gateway builds it, so certificate, key and module files it names are read and checked too.
 */
export function validateCommand(args: string[], out: (line: string) => void): number {
  if (args.length !== 1 || args[0]!.startsWith("-")) throw usageError("validate takes exactly one FILE");
  const file = args[0]!;
  const result = readConfigFile(file);
  if (!result.ok) {
    const count = result.problems.length;
    throw new CliError(`${file}: ${count} problem${count === 1 ? "" : "s"}`, EXIT.invalid, result.problems.map(formatProblem));
  }
  const { apis, backends, hash } = result.snapshot;
  out(`${file}: valid (${apis.length} API${apis.length === 1 ? "" : "s"}, ${backends.size} backend${backends.size === 1 ? "" : "s"}, sha256 ${hash})`);
  return EXIT.ok;
}
