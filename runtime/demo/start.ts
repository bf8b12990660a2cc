/**
 * `npm start`: the quickstart. Starts the demo echo backend, then a gateway on
 * config/examples/quickstart.yaml (or the configuration file given: `npm start -- FILE`, as the
 * worked examples of the docs do), and prints URLs to try. Works with no network.
 */
import { fileURLToPath } from "node:url";
import { main } from "../cli/main.ts";
import { STATUS_PATH } from "../gateway/traffic.ts";
import { startEchoBackend } from "./echo-backend.ts";
import { describeError } from "../../config/schema/problems.ts";

const quickstart = fileURLToPath(new URL("../../config/examples/quickstart.yaml", import.meta.url));
const config = process.argv[2] ?? quickstart;
const echoPort = 9001;

try {
  await startEchoBackend(echoPort);
} catch (error) {
  process.stderr.write(`portico demo: cannot start the echo backend on 127.0.0.1:${echoPort}: ${describeError(error)}\n`);
  process.exit(1);
}

const port = process.env.PORTICO_NET_SERVER_HTTP_PORT || "8080";
const management = process.env.PORTICO_NET_MANAGEMENT_PORT || "8090";
process.env.PORTICO_TELEMETRY_LOGS_STD ||= "text";
const code = await main(["gateway", "--config", config]);
if (code !== undefined) process.exit(code);

if (config !== quickstart) {
  process.stdout.write(`\nPortico is running on ${config} with the demo echo backend on 127.0.0.1:${echoPort}. Ctrl-C stops.\n`);
} else {
  process.stdout.write(`
Portico is running on the quickstart configuration (${config}).
Try:
  curl -i http://localhost:${port}/echo/hello?name=portico
  curl -i http://localhost:${port}/orders/42
  curl -i -X DELETE http://localhost:${port}/orders/42          # 405: the operation is not defined
  curl -i http://localhost:${port}/nothing-here                 # 404 problem+json
  curl -i -H 'Host: admin.localhost' http://localhost:${port}/anything
  curl -i http://localhost:${port}${STATUS_PATH}
  curl -i http://localhost:${management}/readyz
Edit the configuration file and watch the gateway apply it. Ctrl-C stops.
`);
}
