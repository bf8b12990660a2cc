import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { formatProblem } from "../../config/snapshot/build.ts";
import { resolveSettings, type SettingKey, type Settings } from "../../config/schema/settings.ts";
import { readClaims } from "../../control-plane/tokens.ts";
import { type Gateway, startGateway, StartupError } from "../gateway/gateway.ts";
import { createLogger } from "../observability/log.ts";
import { loadAdapter } from "../server/detect.ts";
import { CliError, EXIT, usageError } from "./errors.ts";
import { version } from "./version.ts";
import { describeError } from "../../config/schema/problems.ts";

function readSettingsFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CliError(`settings: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`, EXIT.invalid);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new CliError(`settings: ${path}: ${describeError(error).split("\n")[0]}`, EXIT.invalid);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new CliError(`settings: ${path}: expected a map of settings keys`, EXIT.invalid);
  return value as Record<string, unknown>;
}

/** Resolves settings from an optional file and the environment, or fails naming every bad key and value. */
export function loadSettings(
  file: string | undefined,
  env: Record<string, string | undefined>,
): { settings: Settings; warnings: string[]; given: ReadonlySet<SettingKey> } {
  const result = resolveSettings(file ? readSettingsFile(file) : undefined, env);
  if (!result.ok) {
    throw new CliError(`settings: ${result.problems.length} invalid`, EXIT.invalid, result.problems.map((p) => `settings: ${formatProblem(p)}`));
  }
  return result;
}

/** `portico gateway [--settings FILE] [--config FILE]`: runs until SIGINT or SIGTERM. */
export async function gatewayCommand(args: string[]): Promise<Gateway> {
  let values: { settings?: string; config?: string };
  try {
    ({ values } = parseArgs({ args, options: { settings: { type: "string" }, config: { type: "string" } }, strict: true }));
  } catch (error) {
    throw usageError(describeError(error));
  }
  const { settings, warnings, given } = loadSettings(values.settings, process.env);
  const logger = createLogger(settings["telemetry.logs.std"], {
    level: settings["telemetry.logs.std.level"],
    bufferBytes: settings["telemetry.logs.buffer"],
  });
  let gateway: Gateway;
  try {
    for (const warning of warnings) logger.warn(warning);
    if (!values.config && !settings["config.service.endpoint"]) {
      throw usageError("gateway needs --config FILE (standalone) or the config.service.endpoint setting (control plane)");
    }
    if (values.config && settings["config.service.endpoint"]) {
      logger.warn("--config is given, so config.service.endpoint is ignored: this gateway runs standalone");
    }
    const adapter = await loadAdapter();
    gateway = await startGateway({
      settings,
      adapter,
      logger,
      configFile: values.config,
      name: values.config ? undefined : gatewayName(settings, given),
      version: version(),
      given,
    });
  } catch (error) {
    // The lines logged so far (warnings, the cause) are written before the process exits.
    await logger.close();
    if (error instanceof StartupError) throw new CliError(error.message, EXIT.invalid, error.problems);
    throw error;
  }
  const close = gateway.close.bind(gateway);
  // On SIGTERM/SIGINT (runtime/cli/main.ts): drain, then write what is buffered before the process exits.
  gateway.close = async () => {
    try {
      await close();
    } finally {
      await logger.close();
    }
  };
  return gateway;
}

/**
 * The name a gateway uses with its control plane: `gateway.name` when set, else the one its token
 * names (the host name default would rarely match). A set name that differs from the token's is a
 * start-up error, since every pull would be refused.
 */
function gatewayName(settings: Settings, given: ReadonlySet<SettingKey>): string {
  const claims = settings["config.service.auth"] ? readClaims(settings["config.service.auth"]) : undefined;
  if (!claims) {
    if (settings["config.service.auth"]) {
      throw new CliError(
        "config.service.auth: not a Portico gateway token (expected NAME&KEY&GENERATION&EXPIRY&SIGNATURE, from portico token create)",
        EXIT.invalid,
      );
    }
    return settings["gateway.name"];
  }
  if (given.has("gateway.name") && settings["gateway.name"] !== claims.gateway) {
    throw new CliError(
      `gateway.name is ${JSON.stringify(settings["gateway.name"])} but the token in config.service.auth is for gateway ${JSON.stringify(claims.gateway)}`,
      EXIT.invalid,
    );
  }
  return claims.gateway;
}
