import { parseArgs } from "node:util";
import { CliError, EXIT, usageError } from "./errors.ts";
import { loadSettings } from "./gateway.ts";
import { describeError } from "../../config/schema/problems.ts";
import { STATUS_PATH } from "../gateway/traffic.ts";

/**
 * The URL a local health check asks: the status probe on the plain HTTP listener, or `/readyz` on
 * the management port when the HTTP listener is off. A wildcard bind address is asked on loopback.
 */
export function healthUrl(settings: ReturnType<typeof loadSettings>["settings"]): string {
  const local = (address: string) => (address === "0.0.0.0" || address === "::" ? "127.0.0.1" : address.includes(":") ? `[${address}]` : address);
  const http = settings["net.server.http.port"];
  if (http !== 0) return `http://${local(settings["net.server.bind-address"])}:${http}${STATUS_PATH}`;
  return `http://${local(settings["net.management.bind-address"])}:${settings["net.management.port"]}/readyz`;
}

/**
 * `portico health [--settings FILE] [--url URL] [--timeout MS]`: asks the local gateway whether it
 * is serving (container HEALTHCHECK, systemd, scripts). The port comes from the same settings as
 * the gateway's (file and `PORTICO_*` environment). Exit 0 on a 200, 1 otherwise, saying why.
 */
export async function healthCommand(args: string[], out: (line: string) => void): Promise<number> {
  let values: { settings?: string; url?: string; timeout?: string };
  try {
    ({ values } = parseArgs({ args, options: { settings: { type: "string" }, url: { type: "string" }, timeout: { type: "string" } }, strict: true }));
  } catch (error) {
    throw usageError(describeError(error));
  }
  const timeout = values.timeout === undefined ? 2_000 : Number(values.timeout);
  if (!Number.isInteger(timeout) || timeout <= 0) throw usageError(`--timeout expects milliseconds, got "${values.timeout}"`);
  const url = values.url ?? healthUrl(loadSettings(values.settings, process.env).settings);
  let status: number;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeout) });
    await res.body?.cancel();
    status = res.status;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? describeError(error);
    throw new CliError(`health: ${url}: no answer (${cause})`, EXIT.invalid);
  }
  if (status !== 200) throw new CliError(`health: ${url}: status ${status}`, EXIT.invalid);
  out(`health: ${url}: ok`);
  return EXIT.ok;
}
