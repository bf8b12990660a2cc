#!/usr/bin/env bun
/** The `portico` command line on any runtime: `bun|deno run -A|node --import tsx runtime/cli.ts ARGS`. */
import { main } from "./cli/main.ts";

const code = await main(process.argv.slice(2));
if (code !== undefined) process.exit(code);
