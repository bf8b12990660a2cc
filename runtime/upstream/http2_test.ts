import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { issue, makeCa } from "../../test/certificates.ts";
import { tempDir } from "../../test/harness.ts";
import { type Http2Backends, http2BackendState, startHttp2Backends } from "../../test/http2-backend-process.ts";
import type { UpstreamClient } from "./client.ts";
import { http2Upstream } from "./http2.ts";

/** The HTTP/2 upstream client against HTTP/2-only backends on Node (test/http2-backend.ts). */
describe("HTTP/2 upstream client: sessions", { timeout: 60_000 }, () => {
  let backends: Http2Backends;
  const clients: UpstreamClient[] = [];

  before(async () => {
    const dir = tempDir();
    const cert = issue(dir, makeCa(dir), "backend.test");
    backends = await startHttp2Backends(cert.cert, cert.key);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    backends?.child.kill();
  });

  const get = (client: UpstreamClient, port: number, path: string) =>
    client.send({ url: `http://127.0.0.1:${port}${path}`, method: "GET", headers: new Headers(), clientBody: undefined, timeoutMs: 5_000, http2: true });

  it("opens a new session once one has carried its share of streams, and the old one finishes its streams", async () => {
    const client = http2Upstream({ maxStreamsPerSession: 3 });
    clients.push(client);
    const before = (await http2BackendState(backends)).sessions.h2c;
    for (let i = 0; i < 7; i++) {
      const response = await get(client, backends.h2c, `/echo?i=${i}`);
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { path: string }).path, `/echo?i=${i}`);
    }
    // Streams 1-3, 4-6 and 7: three sessions.
    assert.equal((await http2BackendState(backends)).sessions.h2c - before, 3);
  });

  it("sends a request the backend did not process (past its GOAWAY) again on a new session", async () => {
    const client = http2Upstream();
    clients.push(client);
    const paths = Array.from({ length: 40 }, (_, i) => `/r${i}`);
    const answers = await Promise.all(paths.map(async (path) => {
      const response = await get(client, backends.goaway, path);
      return `${response.status} ${await response.text()}`;
    }));
    assert.deepEqual(answers, paths.map((path) => `200 ${path}`));
    const state = await http2BackendState(backends);
    assert.ok(state.goaways >= 1, "the backend sent GOAWAY");
    assert.ok(state.sessions.goaway >= 2, `sessions: ${state.sessions.goaway}`);
  });
});
