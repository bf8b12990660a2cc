import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { startGatewayProcess, type GatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

/** Sends raw bytes and collects every status line the gateway answers with before it closes or goes quiet. */
function exchange(port: number, raw: string): Promise<number[]> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(raw));
    let data = "";
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve([...data.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1])));
    };
    const timer = setTimeout(done, 500);
    socket.setEncoding("latin1");
    socket.on("data", (d) => (data += d));
    socket.on("error", done);
    socket.on("close", done);
  });
}

describe("request framing: malformed requests get a 4xx and nothing is smuggled", () => {
  let upstream: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGatewayProcess({
      config: `apis: [ { name: a, path: /, backend: a } ]\nbackends: { a: { urls: ["${upstream.url}"] } }\n`,
      env: { PORTICO_TELEMETRY_LOGS_STD: "none" },
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const cases: Record<string, string> = {
    "Content-Length with Transfer-Encoding":
      "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
    "two different Content-Lengths": "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nhello",
    "two equal Content-Lengths": "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "a Content-Length list": "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello",
    "a signed Content-Length": "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello",
    "chunked not last": "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "an unknown transfer coding": "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "an obs-fold header": "GET /x HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n",
    "a bare CR in a header": "GET /x HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n",
    "white space before the colon": "GET /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "headers over 64 KiB": `GET /x HTTP/1.1\r\nHost: h\r\nX-Big: ${"a".repeat(70_000)}\r\n\r\n`,
  };

  for (const [name, raw] of Object.entries(cases)) {
    it(`refuses ${name}`, async () => {
      const before = upstream.seen.length;
      const statuses = await exchange(gw.port, raw);
      assert.ok(statuses.length <= 1, `one answer at most, got ${statuses.join(", ")}`);
      if (statuses.length) assert.ok(statuses[0]! >= 400 && statuses[0]! < 500, `a 4xx, got ${statuses[0]}`);
      assert.deepEqual(upstream.seen.slice(before).map((r) => r.url), [], "the backend saw nothing");
    });
  }

  it("refuses two Host headers where the runtime lets them through", async () => {
    const before = upstream.seen.length;
    const statuses = await exchange(gw.port, "GET /x HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n");
    // Node keeps the first Host and drops the rest; Bun merges them (refused by Portico); Deno refuses.
    if (statuses[0] === 200) assert.equal(upstream.seen.at(-1)!.headers["x-forwarded-host"], "a.example");
    else {
      assert.equal(statuses[0], 400);
      assert.equal(upstream.seen.length, before);
    }
  });

  it("still serves a well-formed request on the same gateway", async () => {
    assert.deepEqual(await exchange(gw.port, "POST /ok HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"), [200]);
    assert.equal(upstream.seen.at(-1)!.url, "/ok");
  });
});
