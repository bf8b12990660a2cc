/**
 * Checks with testssl.sh (Debian package `testssl.sh`, command `testssl`) that the gateway's HTTPS
 * listener, with the default settings, offers no suite outside Portico's defaults: no static-RSA
 * key exchange, no CBC, CCM, CCM8 or ARIA, nothing older than TLS 1.2. Too slow for the test suite
 * (testssl takes about a minute per listener here), so it is a script, run on the runtime that runs
 * it, like the tests:
 *
 *   npx bun test/testssl.ts            npx deno run -A test/testssl.ts            node --import tsx test/testssl.ts
 *
 * For each listener Portico can open on that runtime (without and with client certificates asked
 * for: on Bun these are two different servers) and each certificate type (RSA, which static-RSA
 * suites need, and ECDSA), it runs `testssl -E` (every suite of every protocol, by OpenSSL and by raw
 * sockets) and prints what was offered as a Markdown table. Exit code 0 when nothing outside the
 * defaults was offered, 1 when something was (or testssl found nothing at all), 2 without testssl.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { issue, makeCa } from "./certificates.ts";
import { freePort, startGatewayProcess, tempDir } from "./harness.ts";
import { startUpstream } from "./upstream.ts";
import { detectRuntime } from "../runtime/server/detect.ts";
import { describeError } from "../config/schema/problems.ts";

/** The suites Portico offers by default: the TLS 1.3 ones and ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2. */
const ALLOWED =
  /^TLS_(AES_(128_GCM_SHA256|256_GCM_SHA384)|CHACHA20_POLY1305_SHA256|ECDHE_(RSA|ECDSA)_WITH_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256))$/;

/** One suite testssl found offered. */
interface Offered {
  readonly protocol: string;
  readonly iana: string;
  readonly openssl: string;
}

function testsslCommand(): string | undefined {
  for (const name of ["testssl", "testssl.sh"]) if (spawnSync(name, ["--version"], { stdio: "ignore" }).status === 0) return name;
  return undefined;
}

/** Runs `testssl -E` against `host` on 127.0.0.1:`port` (the host name goes out as SNI); the suites it saw offered. */
function runTestssl(command: string, host: string, port: number, dir: string): Promise<Offered[]> {
  const json = join(dir, `testssl-${host}-${port}.json`);
  const args = ["--quiet", "--color", "0", "--warnings", "off", "--nodns", "none", "--ip", "127.0.0.1", "-E", "--jsonfile", json, `${host}:${port}`];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "inherit"] });
    child.on("error", reject);
    child.on("close", () => {
      try {
        const findings = JSON.parse(readFileSync(json, "utf8")) as { id: string; finding: string }[];
        const offered = findings
          .filter((f) => f.id.startsWith("cipher-"))
          .map((f) => {
            // "TLS 1.2   xc02f   ECDHE-RSA-AES128-GCM-SHA256   ECDH 253   AESGCM   128   TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            const words = f.finding.trim().split(/\s+/);
            return { protocol: f.id.slice("cipher-".length).replace(/_x[0-9a-f]+$/, ""), openssl: words[3] ?? "?", iana: words[words.length - 1] ?? "?" };
          });
        resolve(offered);
      } catch (error) {
        reject(new Error(`testssl wrote no readable ${json}: ${describeError(error)}`));
      }
    });
  });
}

async function main(): Promise<number> {
  const command = testsslCommand();
  if (!command) {
    process.stderr.write("testssl not found: install it with `apt-get install -y testssl.sh` (Debian 12)\n");
    return 2;
  }
  const runtime = detectRuntime();
  const dir = tempDir();
  const ca = makeCa(dir);
  const certs = { "rsa.test": issue(dir, ca, "rsa.test", "rsa.test", [], { keyType: "rsa" }), "ec.test": issue(dir, ca, "ec.test") };
  const upstream = await startUpstream();
  const rows: string[] = [];
  let bad = 0;
  let seen = 0;
  try {
    for (const negotiate of [false, true]) {
      const port = await freePort();
      const hostnames = Object.entries(certs).map(([host, c]) =>
        `  - { host: ${host}, cert: ${c.certFile}, key: ${c.keyFile}, negotiateClientCertificate: ${negotiate} }`
      );
      const gw = await startGatewayProcess({
        config: `apis:\n  - { name: api, path: /api, backend: up }\nbackends:\n  up: { urls: ["${upstream.url}"] }\nhostnames:\n${hostnames.join("\n")}\n`,
        env: { PORTICO_NET_SERVER_HTTPS_PORT: String(port) },
        ready: false,
      });
      try {
        await gw.waitForOutput(/HTTPS certificates live/, 30_000);
        for (const host of Object.keys(certs)) {
          process.stderr.write(`testssl -E ${host} (${runtime}, client certificates ${negotiate ? "asked for" : "not asked for"})...\n`);
          const offered = await runTestssl(command, host, port, dir);
          seen += offered.length;
          for (const o of offered) {
            const ok = ALLOWED.test(o.iana) && (o.protocol === "tls1_2" || o.protocol === "tls1_3");
            if (!ok) bad++;
            rows.push(
              `| ${runtime} | ${negotiate ? "yes" : "no"} | ${host === "rsa.test" ? "RSA" : "ECDSA"} | ${o.protocol} | ${o.iana} | ${o.openssl} | ${
                ok ? "default" : "**outside the defaults**"
              } |`,
            );
          }
        }
      } finally {
        await gw.stop();
      }
    }
  } finally {
    await upstream.close();
  }
  const version = spawnSync(command, ["--version", "--color", "0"], { encoding: "utf8" }).stdout.match(/testssl(?:\.sh)?\s+(\d\S*)/)?.[1] ?? "unknown";
  console.log(`testssl ${version} -E against the ${runtime} gateway's HTTPS listener, default settings\n`);
  console.log("| runtime | client certificates asked | certificate | protocol | suite (IANA) | OpenSSL name | verdict |\n|---|---|---|---|---|---|---|");
  console.log(rows.join("\n"));
  if (seen === 0) {
    console.log("\ntestssl saw no suite at all: the run failed.");
    return 1;
  }
  console.log(
    bad
      ? `\n${bad} suite(s) outside Portico's defaults.`
      : "\nNo suite outside Portico's defaults: no static RSA, CBC, CCM, CCM8 or ARIA, nothing before TLS 1.2.",
  );
  return bad ? 1 : 0;
}

process.exitCode = await main();
