import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { loadAdapter } from "../server/detect.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

/** What the gateway answered on one connection: every status line, the raw bytes, and whether it closed the connection. */
interface Exchange {
  readonly statuses: number[];
  readonly data: string;
  readonly closed: boolean;
}

/** Sends raw bytes and collects what the gateway answers before it closes the connection or goes quiet for `quietMs`. */
function talk(port: number, raw: string | Uint8Array, quietMs = 500): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(raw));
    let data = "";
    let closed = false;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ statuses: [...data.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1])), data, closed });
    };
    const timer = setTimeout(done, quietMs);
    socket.setEncoding("latin1");
    socket.on("data", (d) => (data += d));
    socket.on("error", done);
    socket.on("end", () => (closed = true));
    socket.on("close", () => {
      closed = true;
      done();
    });
  });
}

/** Sends raw bytes and collects every status line the gateway answers with before it closes or goes quiet. */
async function exchange(port: number, raw: string): Promise<number[]> {
  return (await talk(port, raw)).statuses;
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

  it("never forwards a request with two Host headers under the wrong one", async () => {
    const before = upstream.seen.length;
    const statuses = await exchange(gw.port, "GET /x HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n");
    assert.equal(statuses.length, 1, "one answer");
    // Node keeps the first Host and drops the rest, which it then routes and forwards by; Bun
    // merges them (refused by Portico); Deno refuses them.
    if (statuses[0] === 200) {
      assert.equal(upstream.seen.length, before + 1);
      assert.equal(upstream.seen.at(-1)!.headers["x-forwarded-host"], "a.example");
    } else {
      assert.equal(statuses[0], 400);
      assert.equal(upstream.seen.length, before, "the backend saw nothing");
    }
  });

  // Shapes Node's parser lets through: the gateway refuses them, closes the connection, and the
  // request read after them (a smuggled one) never reaches the backend.
  const smuggling: Record<string, string> = {
    "an empty Transfer-Encoding with Content-Length":
      "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\nContent-Length: 5\r\n\r\nhelloGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
    "Transfer-Encoding: chunked on an HTTP/1.0 keep-alive request":
      "POST /x HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
    "Transfer-Encoding: identity with Content-Length":
      "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhelloGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
    "a Transfer-Encoding of only spaces": "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:   \r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
  };
  for (const [name, raw] of Object.entries(smuggling)) {
    it(`refuses ${name} with 400, closes the connection, and forwards nothing`, async () => {
      const before = upstream.seen.length;
      const { statuses, closed } = await talk(gw.port, raw, 2_000);
      assert.ok(statuses.length >= 1, "an answer");
      for (const status of statuses) assert.equal(status, 400, `every answer is 400: ${statuses.join(", ")}`);
      assert.ok(closed, "the connection was closed");
      assert.deepEqual(upstream.seen.slice(before).map((r) => r.url), [], "the backend saw nothing");
    });
  }

  it("refuses a Host that is not a host[:port] (a path, user info, a space) with 400, forwarding nothing", async () => {
    for (const host of ["a.example/b", "user@a.example", "a.example:80:80", "a example"]) {
      const before = upstream.seen.length;
      const { statuses } = await talk(gw.port, `GET /x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      assert.deepEqual(statuses, [400], `Host: ${host}`);
      assert.equal(upstream.seen.length, before, `the backend saw nothing for Host: ${host}`);
    }
  });

  it("does not speak HTTP/2 on the plain port to a client that starts with the HTTP/2 preface", async () => {
    const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
    // An empty SETTINGS frame: length 0, type 4, flags 0, stream 0.
    const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    const { data } = await talk(gw.port, Buffer.concat([preface, settings]), 1_000);
    // An HTTP/2 server answers with its own SETTINGS frame (type byte 4 at offset 3).
    assert.ok(!(data.length >= 9 && data.charCodeAt(3) === 4 && !data.startsWith("HTTP/")), `answered HTTP/2: ${JSON.stringify(data.slice(0, 40))}`);
    assert.ok(data === "" || /^HTTP\/1\.1 4\d\d /.test(data), `a 4xx or nothing: ${JSON.stringify(data.slice(0, 60))}`);
  });

  it("answers pipelined requests in order, or (where the runtime drops such connections) forwards no request whose answer was lost", async () => {
    const adapter = await loadAdapter();
    const before = upstream.seen.length;
    const raw =
      "POST /pipe-1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nokGET /pipe-2 HTTP/1.1\r\nHost: h\r\n\r\nGET /pipe-3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    const { statuses, data } = await talk(gw.port, raw, 2_000);
    const seen = upstream.seen.slice(before).map((r) => r.url);
    if (adapter.capabilities.dropsPipelinedConnections && statuses.length === 0) {
      // Bun.serve closed the connection unanswered: the POST, whose answer nobody would get, was not forwarded.
      assert.ok(!seen.includes("/pipe-1"), `the backend ran a request whose answer was lost: ${seen.join(", ")}`);
    } else {
      assert.deepEqual(statuses, [200, 200, 200]);
      const order = [...data.matchAll(/"url":"(\/pipe-\d)"/g)].map((m) => m[1]);
      assert.deepEqual(order, ["/pipe-1", "/pipe-2", "/pipe-3"], "answers in the order of the requests");
    }
  });

  it("still serves a well-formed request on the same gateway", async () => {
    assert.deepEqual(await exchange(gw.port, "POST /ok HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"), [200]);
    assert.equal(upstream.seen.at(-1)!.url, "/ok");
  });
});

describe("routing authority: the absolute-form target's, else Host", () => {
  let upstream: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGatewayProcess({
      config: `
apis:
  - { name: a, path: /h, hosts: [a.example], backend: a }
  - { name: b, path: /h, hosts: [b.example], backend: b }
backends:
  a: { urls: ["${upstream.url}/from-a"] }
  b: { urls: ["${upstream.url}/from-b"] }
`,
      env: { PORTICO_TELEMETRY_LOGS_STD: "none" },
    });
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  it("routes an absolute-form request by its target's authority where the runtime keeps it, else by Host, and forwards the authority it routed by", async () => {
    const adapter = await loadAdapter();
    const before = upstream.seen.length;
    const { statuses } = await talk(gw.port, "GET http://a.example/h/x HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n");
    assert.deepEqual(statuses, [200]);
    const seen = upstream.seen.slice(before);
    assert.equal(seen.length, 1);
    // Bun.serve rebuilds the URL from Host and drops the target's authority (see docs/runtimes.md).
    const routed = adapter.capabilities.absoluteFormAuthority ? "a" : "b";
    assert.equal(seen[0]!.url, `/from-${routed}/x`);
    assert.equal(seen[0]!.headers["x-forwarded-host"], `${routed}.example`, "the backend is told the authority the request was routed by");
  });

  it("routes an origin-form request by Host", async () => {
    const before = upstream.seen.length;
    const { statuses } = await talk(gw.port, "GET /h/y HTTP/1.1\r\nHost: B.Example\r\nConnection: close\r\n\r\n");
    assert.deepEqual(statuses, [200]);
    assert.equal(upstream.seen[before]!.url, "/from-b/y");
    assert.equal(upstream.seen[before]!.headers["x-forwarded-host"], "B.Example", "as the client sent it");
  });
});
