import assert from "node:assert/strict";
import { createServer, type Http2Server, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { UpstreamSessions } from "./sessions.ts";

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("sessions to gRPC backends", () => {
  let server: Http2Server;
  let url: URL;
  const serverSessions: ServerHttp2Session[] = [];

  before(async () => {
    server = createServer();
    server.on("session", (s) => serverSessions.push(s));
    server.on("stream", (stream) => stream.respond({ ":status": 200 }, { endStream: true }));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/svc`);
  });

  after(async () => {
    for (const s of serverSessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("keeps one session per origin, and connects again once the backend sends GOAWAY", async () => {
    const sessions = new UpstreamSessions();
    const first = sessions.session(url, undefined);
    assert.equal(sessions.session(new URL("/other/path", url), undefined), first, "same origin, same session");
    await new Promise<void>((resolve, reject) => {
      const stream = first.request({ ":path": "/svc/M" });
      stream.on("response", () => resolve());
      stream.on("error", reject);
      stream.end();
    });
    await until(() => serverSessions.length === 1, "the backend to see the session");
    serverSessions[0]!.goaway();
    await until(() => sessions.size === 0, "the session to be forgotten");
    const second = sessions.session(url, undefined);
    assert.notEqual(second, first, "a new session after GOAWAY");
    assert.equal(sessions.size, 1);
    sessions.close(true);
    assert.equal(sessions.size, 0);
    assert.throws(() => sessions.session(url, undefined), /shutting down/);
  });

  it("gives a new session once one has carried its share of calls, and the calls on the old one finish", async () => {
    const sessions = new UpstreamSessions(2);
    const call = (session: ReturnType<typeof sessions.session>) =>
      new Promise<number>((resolve, reject) => {
        const stream = session.request({ ":path": "/svc/M" });
        stream.on("response", (headers) => resolve(Number(headers[":status"])));
        stream.on("error", reject);
        stream.end();
      });
    const first = sessions.session(url, undefined);
    const second = sessions.session(url, undefined);
    assert.equal(second, first);
    // Two calls made on the first session in this turn, then the third call rotates it.
    const early = [call(first), call(second)];
    const third = sessions.session(url, undefined);
    assert.notEqual(third, first);
    assert.deepEqual(await Promise.all([...early, call(third)]), [200, 200, 200]);
    await until(() => first.closed, "the first session to close");
    sessions.close();
  });
});
