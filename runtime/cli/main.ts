import { buildInfo } from "./build-info.ts";
import { CliError, EXIT, usageError } from "./errors.ts";
import { gatewayCommand } from "./gateway.ts";
import { healthCommand } from "./health.ts";
import { validateCommand } from "./validate.ts";
import { version } from "./version.ts";

const HELP = `portico: a self-hosted edge API gateway

usage:
  portico gateway [--settings FILE] [--config FILE]   run a gateway (--config: standalone, watched;
                                                      else from the control plane in config.service.endpoint)
  portico control-plane [--data DIR] [--port N]       run the control plane (DIR/config/*.yaml, watched)
          [--bind ADDRESS] [--watch-interval 1s] [--tls-cert FILE --tls-key FILE]
                                                      --bind: 127.0.0.1 without a certificate, else 0.0.0.0
  portico token create --gateway NAME [--key primary|secondary] [--expires 30d] [--data DIR]
                                                      print a gateway access token (at most 30 days)
  portico key regenerate --gateway NAME --key primary|secondary [--data DIR]
                                                      rotate a key; tokens it signed stop working
  portico subscription create --name NAME [--data DIR]
                                                      make a subscription's two keys; print them once
  portico subscription regenerate --name NAME --key primary|secondary [--data DIR]
                                                      replace one key; print it once
  portico subscription list [--data DIR]              subscriptions and where their keys come from
  portico validate FILE                               check a configuration; every problem, exit 1 if any
  portico health [--settings FILE] [--url URL]        exit 0 if the local gateway serves (status probe), else 1
  portico policy new NAME [--dir DIR]                 scaffold a policy project in DIR/NAME (AssemblyScript)
  portico policy build [DIR]                          compile DIR/index.ts to DIR/build/NAME.wasm; print its sha256
  portico policy test [DIR] [--module FILE] [--fixtures FILE]
                                                      run DIR/fixtures.yaml against the module; exit 1 if a case fails
  portico --version | --help

exit codes: 0 ok, 1 invalid input or configuration, 2 usage error
settings: --settings FILE (YAML map of dotted keys) and PORTICO_* environment variables (see docs/settings.md)`;

/**
 * The control plane's commands, loaded when one runs: a gateway does not load the control plane's
 * server (its API, admin page and state), about 10 ms of every gateway start (bench/RESULTS.md,
 * 2026-12-05 17:25).
 */
const controlPlane = () => import("../../control-plane/cli.ts");

/** Writes a CLI failure to stderr, one line per problem. */
function report(error: CliError): void {
  for (const line of error.lines) process.stderr.write(`${line}\n`);
  process.stderr.write(`portico: ${error.message}\n`);
}

/** Sets up signal handling so a running gateway drains and exits cleanly. */
function stopOn(close: () => Promise<void>): void {
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(EXIT.ok);
    stopping = true;
    close().then(() => process.exit(EXIT.ok), () => process.exit(EXIT.invalid));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

/** Runs the CLI; resolves to the exit code for finished commands, or never settles for servers. */
export async function main(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "gateway": {
        const gateway = await gatewayCommand(rest);
        stopOn(() => gateway.close());
        return undefined;
      }
      case "control-plane": {
        const plane = await (await controlPlane()).controlPlaneCommand(rest);
        stopOn(() => plane.close());
        return undefined;
      }
      case "token":
        return (await controlPlane()).tokenCommand(rest, (line) => process.stdout.write(`${line}\n`));
      case "key":
        return (await controlPlane()).keyCommand(rest, (line) => process.stdout.write(`${line}\n`));
      case "subscription":
        return (await controlPlane()).subscriptionCommand(rest, (line) => process.stdout.write(`${line}\n`), (line) => process.stderr.write(`${line}\n`));
      case "validate":
        return validateCommand(rest, (line) => process.stdout.write(`${line}\n`));
      case "health":
        return await healthCommand(rest, (line) => process.stdout.write(`${line}\n`));
      case "policy": {
        // Loaded on demand: the policy tools bring the AssemblyScript compiler, which nothing else needs.
        const { policyCommand } = await import("./policy.ts");
        return await policyCommand(rest, (line) => process.stdout.write(`${line}\n`));
      }
      case "--version":
      case "-v":
        process.stdout.write(`portico ${version()} (commit ${(await buildInfo()).commit})\n`);
        return EXIT.ok;
      case "--help":
      case "-h":
      case "help":
        process.stdout.write(`${HELP}\n`);
        return EXIT.ok;
      case undefined:
        throw usageError("a command is required");
      default:
        throw usageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof CliError) {
      report(error);
      return error.code;
    }
    throw error;
  }
}
