import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, startGatewayProcess } from "../../test/harness.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

/**
 * `net.server.http.proxy-protocol` on a real gateway: raw sockets from 127.0.0.1, which one gateway
 * trusts (127.0.0.1/32) and the other does not (10.0.0.0/8).
 */
const config = (backend: string) => `
apis:
  - name: allow
    path: /allow
    backend: b
    policies:
      inbound:
        - { policy: ip-filter, with: { action: allow, address: ["203.0.113.0/24", "2001:db8::/32"] } }
        - { policy: set-query-parameter, with: { name: client, value: "{request.ip}" } }
backends:
  b: { urls: ["${backend}"] }
`;

const REQUEST = "GET /allow/x HTTP/1.1\r\nHost: gw.test\r\nX-Forwarded-For: 198.51.100.1\r\nConnection: close\r\n\r\n";
const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** Sends `parts` on one connection (each written on its own, a little apart) and resolves with all that came back once it closes. */
function exchange(port: number, ...parts: (string | Buffer)[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", async () => {
      for (const part of parts) {
        if (socket.destroyed) break;
        socket.write(part);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    let data = "";
    socket.setEncoding("latin1");
    socket.on("data", (d) => (data += d));
    socket.on("error", () => {/* a reset is how a refused connection may end */});
    socket.on("close", () => resolve(data));
    setTimeout(() => reject(new Error(`connection still open after 20 s; got ${JSON.stringify(data)}`)), 20_000).unref();
  });
}

const status = (response: string) => Number(response.split(" ")[1]);

describe("PROXY protocol (net.server.http.proxy-protocol)", () => {
  let backend: Upstream;
  let trusting: GatewayProcess;
  let untrusting: GatewayProcess;

  before(async () => {
    backend = await startUpstream();
    [trusting, untrusting] = await Promise.all([
      startGatewayProcess({
        config: config(backend.url),
        env: { PORTICO_NET_SERVER_HTTP_FORWARDED_TRUSTED_PROXIES: "127.0.0.1/32", PORTICO_NET_SERVER_HTTP_PROXY_PROTOCOL: "true" },
      }),
      startGatewayProcess({
        config: config(backend.url),
        env: { PORTICO_NET_SERVER_HTTP_FORWARDED_TRUSTED_PROXIES: "10.0.0.0/8", PORTICO_NET_SERVER_HTTP_PROXY_PROTOCOL: "true" },
      }),
    ]);
  });

  after(async () => {
    await Promise.all([trusting?.stop(), untrusting?.stop()]);
    await backend?.close();
  });

  const lastSeen = () => backend.seen[backend.seen.length - 1]!;
  const templated = () => new URLSearchParams(lastSeen().url.split("?")[1]).get("client");

  it("version 1: the header's source is the client for ip-filter, {request.ip} and the backend's X-Forwarded-For", async () => {
    const res = await exchange(trusting.port, `PROXY TCP4 203.0.113.7 127.0.0.1 56324 ${trusting.port}\r\n${REQUEST}`);
    assert.equal(status(res), 200, res);
    assert.equal(templated(), "203.0.113.7");
    assert.equal(lastSeen().headers["x-forwarded-for"], "203.0.113.7", "the client is not a trusted proxy: its own X-Forwarded-For is replaced");
    const denied = await exchange(trusting.port, `PROXY TCP4 198.51.100.1 127.0.0.1 56324 ${trusting.port}\r\n${REQUEST}`);
    assert.equal(status(denied), 403);
  });

  it("version 2 over IPv6, sent in pieces", async () => {
    const address = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
    const body = [...address, ...Array(15).fill(0), 1, 0xdc, 0x04, trusting.port >> 8, trusting.port & 0xff];
    const header = Buffer.from([...SIGNATURE, 0x21, 0x21, 0, body.length, ...body]);
    const res = await exchange(trusting.port, header.subarray(0, 10), header.subarray(10), REQUEST);
    assert.equal(status(res), 200, res);
    assert.equal(templated(), "2001:db8::9");
  });

  it("version 2 LOCAL (a health check): the proxy itself is the client", async () => {
    const res = await exchange(trusting.port, Buffer.from([...SIGNATURE, 0x20, 0x00, 0, 0]), REQUEST);
    assert.equal(status(res), 403, "127.0.0.1 is not allowed by the ip-filter");
  });

  it("closes a trusted peer's connection that does not start with a valid header, without an answer", async () => {
    const count = backend.seen.length;
    assert.equal(await exchange(trusting.port, REQUEST), "");
    assert.equal(await exchange(trusting.port, `PROXY TCP4 203.0.113.7 nonsense 1 2\r\n${REQUEST}`), "");
    assert.equal(backend.seen.length, count);
  });

  it("closes connections from peers that are not trusted proxies, header or not", async () => {
    const count = backend.seen.length;
    assert.equal(await exchange(untrusting.port, `PROXY TCP4 203.0.113.7 127.0.0.1 56324 80\r\n${REQUEST}`), "");
    assert.equal(await exchange(untrusting.port, REQUEST), "");
    assert.equal(backend.seen.length, count);
  });
});
