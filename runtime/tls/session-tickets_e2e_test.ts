import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, rmSync, statSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { issue, type IssuedCertificate, makeCa } from "../../test/certificates.ts";
import { tempDir } from "../../test/harness.ts";
import type { RunningServer } from "../server/adapter.ts";
import { loadAdapter } from "../server/detect.ts";
import { listenHttps } from "../server/https.ts";
import { hostnameFromFiles } from "../../config/snapshot/build.ts";
import { CertificateSet } from "./certificates.ts";

/**
 * One openssl s_client handshake to 127.0.0.1:`port` for `servername`, saving the session (with its
 * ticket) to `session.out` or resuming from `session.in`; resolves with whether the session was
 * resumed. A TLS 1.3 ticket arrives after the handshake: s_client writes it to `session.out` when it
 * does (its own output is buffered until it exits), so the client quits once that file is there.
 */
function handshake(
  port: number,
  ca: string,
  servername: string,
  version: "-tls1_2" | "-tls1_3",
  session: { out?: string; in?: string },
): Promise<{ reused: boolean; output: string }> {
  const args = ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", servername, "-CAfile", ca, version];
  if (session.out) {
    rmSync(session.out, { force: true });
    args.push("-sess_out", session.out);
  }
  if (session.in) args.push("-sess_in", session.in);
  return new Promise((resolve, reject) => {
    const child = spawn("openssl", args, { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    const waitForTicket = version === "-tls1_3" && session.out !== undefined;
    const poll = setInterval(() => {
      if (/Verify return code/.test(output) && (!waitForTicket || (existsSync(session.out!) && statSync(session.out!).size > 0))) {
        clearInterval(poll);
        child.stdin.end("Q\n");
      }
    }, 25);
    const timer = setTimeout(() => child.kill(), 10_000);
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("close", () => {
      clearInterval(poll);
      clearTimeout(timer);
      resolve({ reused: /^Reused, /m.test(output), output });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("session tickets on the node:tls listener", { timeout: 60_000 }, () => {
  const dir = tempDir();
  let ca: IssuedCertificate;
  let server: RunningServer | undefined;
  let port: number;
  const ROTATION_MS = 2_000;

  before(async () => {
    ca = makeCa(dir);
    const first = issue(dir, ca, "default.test");
    const other = issue(dir, ca, "other.test");
    const certificates = CertificateSet.from([
      hostnameFromFiles("default.test", first.certFile, first.keyFile),
      hostnameFromFiles("other.test", other.certFile, other.keyFile),
    ])!;
    if ((await loadAdapter()).capabilities.ticketKeys !== "portico") return;
    server = await listenHttps(0, "127.0.0.1", () => new Response("ok"), { certificates, minVersion: "TLSv1.2" }, { ticketKeyRotationMs: ROTATION_MS });
    port = server.port;
  });

  after(async () => {
    await server?.close(true);
  });

  it("where Portico rotates the key (Node), a ticket resumes until the rotation and not after it, for TLS 1.2 and 1.3 and an SNI host name", async (t) => {
    if (!server) {
      // Bun and Deno rotate their own key and ignore or refuse setTicketKeys (docs/tls.md).
      t.skip?.("the runtime rotates its own session ticket key");
      return;
    }
    for (const version of ["-tls1_2", "-tls1_3"] as const) {
      for (const servername of ["default.test", "other.test"]) {
        const file = `${dir}/session-${version}-${servername}.pem`;
        // A rotation may fall between taking a ticket and using it: take a fresh one then.
        let resumed = false;
        for (let attempt = 0; attempt < 3 && !resumed; attempt++) {
          const first = await handshake(port, ca.certFile, servername, version, { out: file });
          assert.equal(first.reused, false, first.output);
          resumed = (await handshake(port, ca.certFile, servername, version, { in: file })).reused;
        }
        assert.ok(resumed, `${version} ${servername}: the ticket resumes before the rotation`);
        await sleep(ROTATION_MS * 2);
        const later = await handshake(port, ca.certFile, servername, version, { in: file });
        assert.equal(later.reused, false, `${version} ${servername}: the ticket no longer resumes after the rotation`);
      }
    }
  });
});
