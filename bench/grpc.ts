#!/usr/bin/env bun
/**
 * What the gateway's gRPC listener adds to a unary call: `bun bench/grpc.ts [--calls 3000]`
 * (or `deno run -A` / `node --import tsx`: the gateway runs on the runtime that runs this script).
 *
 * One @grpc/grpc-js echo server (in this process) and one gateway process with
 * `net.server.grpc.port` and an API in front of the server, no policies, JSON access log on as
 * shipped. One grpc-js client per target calls one unary method one call at a time (latency, not
 * throughput), alternating direct and through the gateway in rounds of 500 so drift hits both.
 * Prints Markdown: median, p90 and p99 per target, and the difference. Asserts nothing.
 */
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { freePort, startGatewayProcess } from "../test/harness.ts";
import { detectRuntime } from "../runtime/server/detect.ts";

const { values } = parseArgs({ options: { calls: { type: "string", default: "3000" } } });
const calls = Number(values.calls);
const bytes = (b: Buffer) => b;
const service = {
  Echo: {
    path: "/bench.Echo/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
} as unknown as grpc.ServiceDefinition;

const server = new grpc.Server();
server.addService(service, {
  Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, call.request),
});
const backendPort = await new Promise<number>((resolve, reject) =>
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port)))
);
const grpcPort = await freePort();
const gateway = await startGatewayProcess({
  config: `apis:\n  - { name: echo, path: /bench.Echo, backend: b }\nbackends:\n  b: { urls: ["http://127.0.0.1:${backendPort}/bench.Echo"] }\n`,
  env: { PORTICO_NET_SERVER_GRPC_PORT: String(grpcPort) },
});

const Client = grpc.makeGenericClientConstructor(service, "Echo");
// deno-lint-ignore no-explicit-any
type AnyClient = any;
const direct: AnyClient = new Client(`127.0.0.1:${backendPort}`, grpc.credentials.createInsecure());
const through: AnyClient = new Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
const message = Buffer.alloc(64, 1);

function call(client: AnyClient): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => client.Echo(message, (error: Error | null) => (error ? reject(error) : resolve(performance.now() - started))));
}

const samples = { direct: [] as number[], gateway: [] as number[] };
try {
  for (let i = 0; i < 300; i++) {
    await call(direct);
    await call(through);
  }
  for (let done = 0; done < calls; done += 500) {
    for (let i = 0; i < 500; i++) samples.direct.push(await call(direct));
    for (let i = 0; i < 500; i++) samples.gateway.push(await call(through));
  }
} finally {
  direct.close();
  through.close();
  await gateway.stop();
  server.forceShutdown();
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const ms = (v: number) => `${v.toFixed(3)} ms`;
console.log(`gRPC unary latency, ${samples.direct.length} calls per target, one at a time, gateway on ${detectRuntime()}\n`);
console.log("| target | p50 | p90 | p99 |");
console.log("| --- | --- | --- | --- |");
for (const [name, values] of Object.entries(samples)) {
  console.log(`| ${name} | ${ms(quantile(values, 0.5))} | ${ms(quantile(values, 0.9))} | ${ms(quantile(values, 0.99))} |`);
}
console.log(
  `| added by the gateway | ${ms(quantile(samples.gateway, 0.5) - quantile(samples.direct, 0.5))} | ${
    ms(quantile(samples.gateway, 0.9) - quantile(samples.direct, 0.9))
  } | ${ms(quantile(samples.gateway, 0.99) - quantile(samples.direct, 0.99))} |`,
);
process.exit(0);
