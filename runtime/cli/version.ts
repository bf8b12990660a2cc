import { buildVersion } from "./build-info.ts";

/** The package version (stamped into a compiled binary, else read from package.json). */
export function version(): string {
  return buildVersion();
}
