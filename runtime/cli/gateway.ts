import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { formatProblem } from "../../config/schema/problems.ts";
import { resolveSettings, type Settings } from "../../config/schema/settings.ts";
import { startGateway, StartupError, type Gateway } from "../gateway/gateway.ts";
import { createLogger } from "../observability/log.ts";
import { loadAdapter } from "../server/detect.ts";
import { CliError, EXIT, usageError } from "./errors.ts";

function readSettingsFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CliError(`settings: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, EXIT.invalid);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new CliError(`settings: ${path}: ${(error as Error).message.split("\n")[0]}`, EXIT.invalid);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new CliError(`settings: ${path}: expected a map of settings keys`, EXIT.invalid);
  return value as Record<string, unknown>;
}

/** Resolves settings from an optional file and the environment, or fails naming every bad key and value. */
export function loadSettings(file: string | undefined, env: Record<string, string | undefined>): { settings: Settings; warnings: string[] } {
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
    throw usageError((error as Error).message);
  }
  const { settings, warnings } = loadSettings(values.settings, process.env);
  const logger = createLogger(settings["telemetry.logs.std"]);
  for (const warning of warnings) logger.warn(warning);
  if (!values.config) {
    if (settings["config.service.endpoint"]) {
      throw new CliError("configuration from a control plane (config.service.endpoint) is not available in this version; use --config FILE", EXIT.invalid);
    }
    throw usageError("gateway needs --config FILE (standalone) or the config.service.endpoint setting");
  }
  const adapter = await loadAdapter();
  try {
    return await startGateway({ settings, adapter, logger, configFile: values.config });
  } catch (error) {
    if (error instanceof StartupError) throw new CliError(error.message, EXIT.invalid, error.problems);
    throw error;
  }
}
