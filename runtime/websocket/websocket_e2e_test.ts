import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer as createHttpsServer, request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { freePort, type GatewayProcess, startGatewayProcess, tempDir } from "../../test/harness.ts";
import { issue, makeCa } from "../../test/certificates.ts";
import { type ForwardProxy, startForwardProxy } from "../../test/forward-proxy.ts";

const MiB = 1024 * 1024;

/** A real WebSocket backend (ws): echoes, refuses /deny with 403, picks `chat.v2`, floods on /flood, sends 3 MiB on "big". */
async function startBackend() {
  let flooded = 0;
  /** The close code and reason of every connection the backend saw end. */
  const closes: string[] = [];
  let flooding: WebSocket | undefined;
  const seen: Record<string, string | string[] | undefined>[] = [];
  const server = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    perMessageDeflate: false,
    maxPayload: 64 * MiB,
    handleProtocols: (protocols) => (protocols.has("chat.v2") ? "chat.v2" : false),
    verifyClient: (info, done) => {
      seen.push(info.req.headers);
      if (info.req.url?.endsWith("/deny")) done(false, 403, "Forbidden");
      else done(true);
    },
  });
  await new Promise((resolve) => server.once("listening", resolve));
  server.on("connection", (ws, req) => {
    ws.on("error", () => {});
    ws.on("close", (code, reason) => closes.push(`${code} ${reason}`));
    if (req.url?.endsWith("/flood")) {
      // Sends as fast as the gateway takes it (ws's own buffer kept under 1 MiB), up to 512 MiB.
      flooding = ws;
      const chunk = randomBytes(64 * 1024);
      const pump = () => {
        while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount < MiB && flooded < 512 * MiB) {
          ws.send(chunk);
          flooded += chunk.length;
        }
        if (ws.readyState === WebSocket.OPEN && flooded < 512 * MiB) setTimeout(pump, 5);
      };
      pump();
      return;
    }
    ws.on("message", (data, binary) => {
      if (!binary && data.toString() === "big") return ws.send(randomBytes(3 * MiB));
      if (!binary && data.toString().startsWith("close ")) return ws.close(Number(data.toString().slice(6)), "bye from backend");
      ws.send(data, { binary });
    });
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    closes,
    flooded: () => flooded,
    /** Whether the last /flood connection is still open on the backend's side. */
    floodOpen: () => flooding?.readyState === WebSocket.OPEN,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

type Backend = Awaited<ReturnType<typeof startBackend>>;

const config = (backend: Backend, tag: string) => `
apis:
  - name: ws
    path: /ws
    backend: echo
    policies:
      inbound: [ { policy: set-header, with: { name: x-tag, value: "${tag}" } } ]
  - name: guarded
    path: /guarded
    backend: echo
    policies:
      inbound: [ { policy: check-header, with: { name: x-token, values: ["letmein"], failed-check-httpcode: 401 } } ]
  - { name: tripping, path: /tripping, backend: tripping }
backends:
  echo: { urls: ["${backend.url}"] }
  tripping:
    urls: ["${backend.url}"]
    circuitBreaker:
      rules:
        - { name: refusals, failureCondition: { count: 2, interval: PT1M, statusCodeRanges: [{ min: 403, max: 403 }] }, tripDuration: PT1M }
`;

/** Opens a WebSocket through the gateway and waits for it to be open. */
async function open(url: string, protocols?: string[]): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false, maxPayload: 64 * MiB });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return ws;
}

/** The next message on a WebSocket, with whether it was binary. */
function next(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve, reject) => {
    ws.once("message", (data, binary) => resolve({ data: Buffer.from(data as Buffer), binary }));
    ws.once("close", (code) => reject(new Error(`closed with ${code} before a message`)));
  });
}

/** Resolves with the close code and reason a WebSocket gets. */
function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** A handshake by hand: the status and body of the answer when it is not 101, or 101 and the socket. */
function handshake(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": randomBytes(16).toString("base64"),
        ...headers,
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode!, body: "", headers: res.headers });
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("WebSocket pass-through", { timeout: 240_000 }, () => {
  let backend: Backend;
  let gw: GatewayProcess;
  let ws: string;

  before(async () => {
    backend = await startBackend();
    gw = await startGatewayProcess({ config: config(backend, "one"), env: { PORTICO_NET_SERVER_WEBSOCKET_MAX_MESSAGE_BYTES: "2MiB" } });
    ws = gw.url.replace("http:", "ws:");
  });

  after(async () => {
    await gw?.stop();
    await backend?.close();
  });

  it("relays text and binary messages both ways and the client's close code, runs inbound policies on the handshake, and logs it as 101", async () => {
    const socket = await open(`${ws}/ws/echo`);
    socket.send("hello");
    assert.deepEqual(await next(socket).then((m) => [m.data.toString(), m.binary]), ["hello", false]);
    socket.send(Buffer.from([0, 1, 2, 255]));
    const binary = await next(socket);
    assert.equal(binary.binary, true);
    assert.deepEqual([...binary.data], [0, 1, 2, 255]);
    const seen = backend.seen.at(-1)!;
    assert.equal(seen["x-tag"], "one", "the inbound set-header reached the backend's handshake");
    assert.equal(seen["x-forwarded-for"], "127.0.0.1");
    const metrics = await (await fetch(`http://127.0.0.1:${gw.managementPort}/metrics`)).text();
    assert.match(metrics, /^portico_websocket_connections\S* 1$/m);
    socket.close(4000, "done here");
    await closed(socket);
    const deadline = Date.now() + 5_000;
    while (!backend.closes.includes("4000 done here")) {
      assert.ok(Date.now() < deadline, `the backend saw ${JSON.stringify(backend.closes)}, not the client's close code and reason`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await gw.waitForOutput(/"path":"\/ws\/echo"[^\n]*"status":101|"status":101[^\n]*"path":"\/ws\/echo"/, 5_000);
  });

  it("relays 1 MiB messages both ways", async () => {
    const socket = await open(`${ws}/ws/echo`);
    const text = "x".repeat(MiB);
    socket.send(text);
    assert.equal((await next(socket)).data.toString(), text);
    const bytes = randomBytes(MiB);
    socket.send(bytes);
    assert.ok((await next(socket)).data.equals(bytes));
    socket.close();
    await closed(socket);
  });

  it("passes the close code and reason the backend sends", async () => {
    const socket = await open(`${ws}/ws/echo`);
    socket.send("close 4321");
    assert.deepEqual(await closed(socket), { code: 4321, reason: "bye from backend" });
  });

  it("passes the subprotocol the backend chose", async () => {
    const socket = await open(`${ws}/ws/echo`, ["chat.v1", "chat.v2"]);
    assert.equal(socket.protocol, "chat.v2");
    assert.match(String(backend.seen.at(-1)!["sec-websocket-protocol"]), /^chat\.v1,\s*chat\.v2$/);
    socket.close();
    await closed(socket);
  });

  it("passes a backend's refusal (403) and answers 502 problem+json for an unreachable backend", async () => {
    const refused = await handshake(`${gw.url}/ws/deny`);
    assert.equal(refused.status, 403);
    const down = await startGatewayProcess({ config: config({ url: "http://127.0.0.1:1" } as Backend, "down") });
    try {
      const unreachable = await handshake(`${down.url}/ws/echo`);
      assert.equal(unreachable.status, 502);
      assert.match(String(unreachable.headers["content-type"]), /application\/problem\+json/);
    } finally {
      await down.stop();
    }
  });

  it("counts handshakes in the backend's circuit breaker: once it trips, a handshake gets 503 without the backend being asked", async () => {
    const before = backend.seen.length;
    assert.equal((await handshake(`${gw.url}/tripping/deny`)).status, 403);
    assert.equal((await handshake(`${gw.url}/tripping/deny`)).status, 403);
    const tripped = await handshake(`${gw.url}/tripping/echo`);
    assert.equal(tripped.status, 503);
    assert.match(tripped.body, /backend-circuit-open/);
    assert.ok(tripped.headers["retry-after"], "503 carries Retry-After");
    assert.equal(backend.seen.length, before + 2, "the backend saw the two refused handshakes only");
  });

  it("answers a handshake a policy refuses with the policy's answer, without asking the backend", async () => {
    const before = backend.seen.length;
    const refused = await handshake(`${gw.url}/guarded/echo`);
    assert.equal(refused.status, 401);
    assert.match(String(refused.headers["content-type"]), /application\/problem\+json/);
    assert.equal(backend.seen.length, before, "the backend was not asked");
    await assert.rejects(open(`${ws}/guarded/echo`), "a WebSocket client without the header is refused too");
    const allowed = new WebSocket(`${ws}/guarded/echo`, { headers: { "x-token": "letmein" } });
    await new Promise((resolve, reject) => (allowed.once("open", resolve), allowed.once("error", reject)));
    allowed.close();
  });

  it("closes with 1009 a message longer than net.server.websocket.max-message-bytes, from either side", async () => {
    const fromClient = await open(`${ws}/ws/echo`);
    const whenClosed = closed(fromClient);
    fromClient.send(randomBytes(3 * MiB));
    assert.equal((await whenClosed).code, 1009);
    const fromBackend = await open(`${ws}/ws/echo`);
    const backendClosed = closed(fromBackend);
    fromBackend.send("big");
    assert.equal((await backendClosed).code, 1009);
  });

  it("keeps an open WebSocket working across a configuration swap", async () => {
    const socket = await open(`${ws}/ws/echo`);
    socket.send("before");
    assert.equal((await next(socket)).data.toString(), "before");
    writeFileSync(gw.configFile, config(backend, "two"));
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ready = await (await fetch(`http://127.0.0.1:${gw.managementPort}/readyz`)).json();
      if (ready.revision === 2) break;
      assert.ok(Date.now() < deadline, "the new configuration was not applied");
      await new Promise((r) => setTimeout(r, 50));
    }
    socket.send("after");
    assert.equal((await next(socket)).data.toString(), "after");
    const fresh = await open(`${ws}/ws/echo`);
    assert.equal(backend.seen.at(-1)!["x-tag"], "two", "new handshakes run the new configuration's policies");
    fresh.close();
    socket.close();
    await closed(socket);
  });

  it("does not buffer without bound for a client that stops reading", async () => {
    const rssBefore = gw.rss();
    const floodedBefore = backend.flooded();
    // A client that completes the handshake and then reads nothing more.
    const client = connect(gw.port, "127.0.0.1");
    client.write(
      `GET /ws/flood HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${
        randomBytes(16).toString("base64")
      }\r\n\r\n`,
    );
    await new Promise<void>((resolve) => client.once("data", () => resolve()));
    client.pause();
    await new Promise((r) => setTimeout(r, 4_000));
    const sent = backend.flooded() - floodedBefore;
    const grown = gw.rss() - rssBefore;
    const stillOpen = backend.floodOpen();
    client.destroy();
    assert.equal(stillOpen, true, "the gateway kept the connection open (it paused the backend, not closed it)");
    // Unbounded buffering would let the backend send all 512 MiB within seconds and the gateway grow by as much.
    assert.ok(sent < 96 * MiB, `the backend could send ${Math.round(sent / MiB)} MiB to a client that reads nothing`);
    assert.ok(grown < 96 * MiB, `the gateway grew by ${Math.round(grown / MiB)} MiB`);
  });

  it("closes open WebSockets with 1001 when the gateway shuts down", async () => {
    const socket = await open(`${ws}/ws/echo`);
    const whenClosed = closed(socket);
    await gw.stop();
    assert.equal((await whenClosed).code, 1001);
  });
});

describe("WebSocket idle timeout", { timeout: 120_000 }, () => {
  let backend: Backend;
  let gw: GatewayProcess;

  before(async () => {
    backend = await startBackend();
    gw = await startGatewayProcess({ config: config(backend, "idle"), env: { PORTICO_NET_SERVER_WEBSOCKET_IDLE_TIMEOUT: "1s" } });
  });

  after(async () => {
    await gw?.stop();
    await backend?.close();
  });

  it("closes a connection with no frames for net.server.websocket.idle-timeout with 1001, and keeps a busy one", async () => {
    const quiet = await open(`${gw.url.replace("http:", "ws:")}/ws/echo`);
    const busy = await open(`${gw.url.replace("http:", "ws:")}/ws/echo`);
    const started = Date.now();
    const whenClosed = closed(quiet);
    let busyClosed = false;
    busy.once("close", () => (busyClosed = true));
    const timer = setInterval(() => busy.send("tick"), 200);
    const { code } = await whenClosed;
    const took = Date.now() - started;
    clearInterval(timer);
    assert.equal(code, 1001);
    assert.ok(took >= 900 && took < 10_000, `closed after ${took} ms`);
    assert.equal(busyClosed, false, "a connection with traffic stays open");
    busy.close();
  });
});

describe("WebSocket over TLS: wss:// clients on the HTTPS listener, wss:// backends with their TLS material", { timeout: 120_000 }, () => {
  let gw: GatewayProcess;
  let httpsPort: number;
  let server: WebSocketServer;
  let https: ReturnType<typeof createHttpsServer>;
  let ca: ReturnType<typeof makeCa>;
  let dir: string;
  let config: (front: ReturnType<typeof issue>) => string;

  before(async () => {
    dir = tempDir();
    ca = makeCa(dir);
    const other = makeCa(dir, "other");
    const front = issue(dir, ca, "ws.test");
    const back = issue(dir, ca, "backend.test");
    https = createHttpsServer({ cert: back.cert, key: back.key });
    server = new WebSocketServer({ server: https, perMessageDeflate: false });
    server.on("connection", (ws) => ws.on("message", (data, binary) => ws.send(data, { binary })));
    await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", () => resolve()));
    const port = (https.address() as { port: number }).port;
    httpsPort = await freePort();
    config = (front) => `
apis:
  - { name: secure, path: /secure, backend: secure }
  - { name: untrusted, path: /untrusted, backend: untrusted }
backends:
  secure: { urls: ["https://127.0.0.1:${port}"], tls: { ca: ${ca.certFile}, sni: backend.test } }
  untrusted: { urls: ["https://127.0.0.1:${port}"], tls: { ca: ${other.certFile}, sni: backend.test } }
hostnames:
  - { host: ws.test, cert: ${front.certFile}, key: ${front.keyFile} }
`;
    gw = await startGatewayProcess({
      config: config(front),
      env: { PORTICO_NET_SERVER_HTTPS_PORT: String(httpsPort) },
    });
  });

  after(async () => {
    await gw?.stop();
    for (const client of server?.clients ?? []) client.terminate();
    await new Promise((resolve) => server?.close(resolve));
    https?.close();
  });

  it("relays messages from a wss:// client to a wss:// backend verified with the backend's CA and SNI", async () => {
    // Passed as a variable: ws hands every option to node:tls, servername included, though its type does not list it.
    const options = { ca: ca.cert, servername: "ws.test", perMessageDeflate: false };
    const socket = new WebSocket(`wss://127.0.0.1:${httpsPort}/secure/echo`, options);
    await new Promise((resolve, reject) => (socket.once("open", resolve), socket.once("error", reject)));
    socket.send("over tls");
    assert.equal((await next(socket)).data.toString(), "over tls");
    socket.close();
    await closed(socket);
  });

  it("keeps an open wss:// connection across a certificate change, which does not wait for it", async () => {
    const options = { ca: ca.cert, servername: "ws.test", perMessageDeflate: false };
    const socket = new WebSocket(`wss://127.0.0.1:${httpsPort}/secure/echo`, options);
    await new Promise((resolve, reject) => (socket.once("open", resolve), socket.once("error", reject)));
    const mark = gw.output().length;
    writeFileSync(gw.configFile, config(issue(dir, ca, "ws.test", "ws-renewed")));
    await gw.waitForOutput(/HTTPS certificates live/, 15_000, mark);
    const deadline = Date.now() + 15_000;
    while ((await (await fetch(`http://127.0.0.1:${gw.managementPort}/readyz`)).json()).revision !== 2) {
      assert.ok(Date.now() < deadline, "the configuration with the new certificate was not applied");
      await new Promise((r) => setTimeout(r, 50));
    }
    socket.send("still here");
    assert.equal((await next(socket)).data.toString(), "still here");
    // The next change is applied too: the listener update did not hang on the open connection.
    const again = gw.output().length;
    writeFileSync(gw.configFile, config(issue(dir, ca, "ws.test", "ws-renewed-again")));
    await gw.waitForOutput(/HTTPS certificates live/, 15_000, again);
    socket.close();
    await closed(socket);
  });

  it("answers 502 when the backend's certificate does not verify against its configured CA", async () => {
    const answer = await new Promise<number>((resolve, reject) => {
      const req = httpsRequestTo(`https://127.0.0.1:${httpsPort}/untrusted/echo`, ca.cert);
      req.on("response", (res) => (res.resume(), resolve(res.statusCode!)));
      req.on("upgrade", (res, socket) => (socket.destroy(), resolve(res.statusCode!)));
      req.on("error", reject);
      req.end();
    });
    assert.equal(answer, 502);
  });
});

/** A WebSocket handshake over TLS to the gateway's HTTPS listener (SNI ws.test). */
function httpsRequestTo(url: string, caPem: string) {
  return httpsRequest(url, {
    ca: caPem,
    servername: "ws.test",
    headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": randomBytes(16).toString("base64") },
  });
}

describe("WebSocket through the egress proxy: ws:// and wss:// backends in a CONNECT tunnel", { timeout: 120_000 }, () => {
  const password = "ws-pr0xy-s3cret";
  const basic = `Basic ${Buffer.from(`edge:${password}`).toString("base64")}`;
  let gw: GatewayProcess;
  let proxy: ForwardProxy;
  let backend: Backend;
  let https: ReturnType<typeof createHttpsServer>;
  let secure: WebSocketServer;
  let securePort: number;

  before(async () => {
    const dir = tempDir();
    const ca = makeCa(dir);
    const back = issue(dir, ca, "backend.test");
    backend = await startBackend();
    https = createHttpsServer({ cert: back.cert, key: back.key });
    secure = new WebSocketServer({ server: https, perMessageDeflate: false });
    secure.on("connection", (ws) => ws.on("message", (data, binary) => ws.send(data, { binary })));
    await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", () => resolve()));
    securePort = (https.address() as { port: number }).port;
    proxy = await startForwardProxy({ requireAuth: basic });
    const proxyUrl = `http://edge:${password}@127.0.0.1:${proxy.port}`;
    gw = await startGatewayProcess({
      config: `
apis:
  - { name: ws, path: /ws, backend: echo }
  - { name: secure, path: /secure, backend: secure }
backends:
  echo: { urls: ["${backend.url}"] }
  secure: { urls: ["https://127.0.0.1:${securePort}"], tls: { ca: ${ca.certFile}, sni: backend.test } }
`,
      env: { PORTICO_NET_CLIENT_PROXY_HTTP: proxyUrl, PORTICO_NET_CLIENT_PROXY_HTTPS: proxyUrl, PORTICO_NET_CLIENT_PROXY_NO_PROXY: "" },
    });
  });

  after(async () => {
    await gw?.stop();
    await proxy?.close();
    await backend?.close();
    for (const client of secure?.clients ?? []) client.terminate();
    await new Promise((resolve) => secure?.close(resolve));
    https?.close();
  });

  /** The tunnels the proxy opened to this test's backends (the runtime may tunnel its own calls too). */
  const tunnelsTo = (port: number) => proxy.seen.filter((s) => s.method === "CONNECT" && s.target === `127.0.0.1:${port}`);

  it("relays a ws:// backend's messages through a tunnel that carried the proxy's credentials", async () => {
    const backendPort = Number(new URL(backend.url).port);
    const socket = await open(`ws://127.0.0.1:${gw.port}/ws/echo`);
    socket.send("through the proxy");
    assert.equal((await next(socket)).data.toString(), "through the proxy");
    socket.close();
    await closed(socket);
    const tunnels = tunnelsTo(backendPort);
    assert.equal(tunnels.length, 1, `one CONNECT to the backend (saw ${JSON.stringify(proxy.seen)})`);
    assert.equal(tunnels[0]!.proxyAuthorization, basic);
    assert.ok(tunnels[0]!.allowed);
  });

  it("relays a wss:// backend's messages with TLS inside the tunnel, verified with the backend's CA and SNI", async () => {
    const socket = await open(`ws://127.0.0.1:${gw.port}/secure/echo`);
    socket.send(Buffer.from([1, 2, 3]), { binary: true });
    const echoed = await next(socket);
    assert.deepEqual([...echoed.data], [1, 2, 3]);
    assert.equal(echoed.binary, true);
    socket.close();
    await closed(socket);
    assert.equal(tunnelsTo(securePort).length, 1);
    assert.ok(!gw.output().includes(password), "the gateway's output shows the proxy password");
  });
});
