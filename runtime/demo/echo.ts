/**
 * `npm run demo:backend [-- PORT]`: the demo echo backend on its own (default 127.0.0.1:9001), for
 * trying a fleet of gateways (README, "Run a fleet") where `npm start` is not used.
 */
import { startEchoBackend } from "./echo-backend.ts";

const port = Number(process.argv[2] ?? 9001);
await startEchoBackend(port);
process.stdout.write(`echo backend listening on http://127.0.0.1:${port}\n`);
