/** Exit codes of the CLI, fixed by the interface contract (docs/design/contract.md). */
export const EXIT = { ok: 0, invalid: 1, usage: 2 } as const;

/** A CLI failure: printed to stderr one line per problem, then the process exits with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly lines: readonly string[] = [],
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** A usage error (exit 2) that also points at `portico --help`. */
export function usageError(message: string): CliError {
  return new CliError(`${message} (see portico --help)`, EXIT.usage);
}
