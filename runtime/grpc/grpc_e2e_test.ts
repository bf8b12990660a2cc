import assert from "node:assert/strict";
import { connect, type IncomingHttpHeaders } from "node:http2";
import { connect as netConnect } from "node:net";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { type ChildProcess, spawn } from "node:child_process";
import { freePort, type GatewayProcess, ROOT, startGatewayProcess, tempDir } from "../../test/harness.ts";
import { issue, makeCa } from "../../test/certificates.ts";

/**
 * gRPC pass-through end to end: a real @grpc/grpc-js server behind a real gateway process (the
 * runtime under test) on its gRPC listener, called by a real @grpc/grpc-js client, and by a bare
 * node:http2 client where the exact wire answer of the gateway is what is checked.
 */

const bytes = (b: Buffer) => b;

/**
 * A grpc-js server over TLS (certificate and key from the environment) serving /test.Echo/Unary,
 * run on Node whatever runs the tests: grpc-js's TLS server does not work on Deno's node:http2
 * (its handshake answers are not TLS), while the gateway's TLS client does, on every runtime.
 * Prints its port.
 */
const TLS_BACKEND = `
const grpc = require("@grpc/grpc-js");
const b = (x) => x;
const server = new grpc.Server();
const unary = { path: "/test.Echo/Unary", requestStream: false, responseStream: false, requestSerialize: b, requestDeserialize: b, responseSerialize: b, responseDeserialize: b };
server.addService({ Unary: unary }, {
  Unary(call, callback) {
    const trailer = new grpc.Metadata();
    trailer.set("x-trailer", "tls");
    callback(null, Buffer.from("tls:" + call.request), trailer);
  },
});
const credentials = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(process.env.CERT), private_key: Buffer.from(process.env.KEY) }], false);
server.bindAsync("127.0.0.1:0", credentials, (error, port) => {
  if (error) throw error;
  console.log(port);
});
`;
/** The Flood method's messages: 1024 of 64 KiB, 64 MiB in all. */
const FLOOD_CHUNK = 64 * 1024;
const FLOOD_COUNT = 1024;

/** The test service under a path prefix (`/test.Echo`, or another API's prefix that leads to the same backend). */
function service(prefix: string): grpc.ServiceDefinition {
  const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
    path: `${prefix}/${name}`,
    requestStream,
    responseStream,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
    originalName: name,
  });
  return {
    Unary: method("Unary", false, false),
    ServerStream: method("ServerStream", false, true),
    ClientStream: method("ClientStream", true, false),
    Bidi: method("Bidi", true, true),
    Slow: method("Slow", false, false),
    Held: method("Held", false, false),
    Flood: method("Flood", false, true),
  } as unknown as grpc.ServiceDefinition;
}

// deno-lint-ignore no-explicit-any
type AnyClient = any;

function client(port: number, prefix: string): AnyClient {
  const Client = grpc.makeGenericClientConstructor(service(prefix), "Echo");
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

/** A metadata object with the given text values. */
function metadata(values: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(values)) md.set(k, v);
  return md;
}

interface UnaryResult {
  error: grpc.ServiceError | null;
  value?: Buffer;
  initial?: grpc.Metadata;
  status?: grpc.StatusObject;
}

/** A unary call, with its response headers and status (trailers). */
function unary(c: AnyClient, method: string, message: Buffer, md: grpc.Metadata, options: grpc.CallOptions = {}): Promise<UnaryResult> {
  return new Promise((resolve) => {
    const result: UnaryResult = { error: null };
    const call = c[method](message, md, options, (error: grpc.ServiceError | null, value?: Buffer) => {
      result.error = error;
      result.value = value;
    });
    call.on("metadata", (m: grpc.Metadata) => (result.initial = m));
    call.on("status", (s: grpc.StatusObject) => {
      result.status = s;
      // The callback runs before "status"; resolve on the next turn so both are in.
      setImmediate(() => resolve(result));
    });
  });
}

/** A bare HTTP/2 call to the gateway: its response headers, trailers and body bytes. */
function rawCall(port: number, headers: Record<string, string>, body: Buffer = frame(Buffer.from("x"))): Promise<{
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders | undefined;
  body: Buffer;
}> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", "content-type": "application/grpc", te: "trailers", ...headers });
    let responseHeaders: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (responseHeaders = h));
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (d: Buffer) => chunks.push(d));
    stream.on("error", reject);
    stream.on("close", () => {
      session.close();
      resolve({ headers: responseHeaders, trailers, body: Buffer.concat(chunks) });
    });
    stream.end(body);
  });
}

/** A gRPC message frame (uncompressed). */
function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("gRPC pass-through (net.server.grpc.port)", () => {
  let server: grpc.Server;
  let tlsBackend: ChildProcess;
  let backendPort: number;
  let gateway: GatewayProcess;
  let grpcPort: number;
  const cancelled: string[] = [];
  /** Messages the Flood method has written so far. */
  let flooded = 0;
  /** Answers of Held calls, given when a test says so. */
  const held: (() => void)[] = [];
  const seen: Record<string, string | undefined> = {};

  before(async () => {
    server = new grpc.Server();
    const trailer = () => metadata({ "x-trailer": "done" });
    server.addService(service("/test.Echo"), {
      Unary(call: AnyClient, callback: AnyClient) {
        seen.unary = call.metadata.get("x-test")[0];
        seen.forwardedFor = call.metadata.get("x-forwarded-for")[0];
        seen.key = call.metadata.get("ocp-apim-subscription-key")[0];
        call.sendMetadata(metadata({ "x-initial": "yes" }));
        callback(null, Buffer.from(`echo:${call.request}`), trailer());
      },
      ServerStream(call: AnyClient) {
        seen.serverStream = call.metadata.get("x-test")[0];
        for (let i = 0; i < 3; i++) call.write(Buffer.from(`${call.request}-${i}`));
        call.end(trailer());
      },
      ClientStream(call: AnyClient, callback: AnyClient) {
        seen.clientStream = call.metadata.get("x-test")[0];
        const parts: string[] = [];
        call.on("data", (d: Buffer) => parts.push(d.toString()));
        call.on("end", () => callback(null, Buffer.from(parts.join("+")), trailer()));
      },
      Bidi(call: AnyClient) {
        seen.bidi = call.metadata.get("x-test")[0];
        call.sendMetadata(metadata({ "x-initial": "bidi" }));
        call.on("data", (d: Buffer) => call.write(Buffer.from(`re:${d}`)));
        call.on("end", () => call.end(trailer()));
      },
      async Flood(call: AnyClient) {
        const chunk = Buffer.alloc(FLOOD_CHUNK, 7);
        for (flooded = 0; flooded < FLOOD_COUNT; flooded++) {
          if (call.cancelled) return;
          // The backend writes only as fast as it may (its stream's flow control).
          if (!call.write(chunk)) await new Promise((resolve) => call.once("drain", resolve));
        }
        call.end();
      },
      Held(call: AnyClient, callback: AnyClient) {
        held.push(() => callback(null, Buffer.from(`held:${call.request}`)));
      },
      Slow(call: AnyClient) {
        const id = call.metadata.get("x-id")[0];
        // grpc-js takes grpc-timeout out of the metadata and makes it the call's deadline.
        seen[`slow-${id}`] = call.getDeadline() === Infinity ? "no deadline" : "deadline";
        call.on("cancelled", () => cancelled.push(id));
        // never answers
      },
    });
    backendPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port)))
    );
    // The same service over TLS (h2 by ALPN), trusted through the backend's tls: section.
    const dir = tempDir();
    const ca = makeCa(dir);
    const leaf = issue(dir, ca, "backend.test");
    tlsBackend = spawn("node", ["-e", TLS_BACKEND], {
      cwd: ROOT,
      env: { ...process.env, CERT: leaf.cert, KEY: leaf.key },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const tlsPort = await new Promise<number>((resolve, reject) => {
      tlsBackend.once("exit", (code) => reject(new Error(`the TLS backend exited (${code})`)));
      tlsBackend.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    });
    const down = await freePort();
    const backend = `http://127.0.0.1:${backendPort}/test.Echo`;
    grpcPort = await freePort();
    gateway = await startGatewayProcess({
      config: `
apis:
  - name: echo
    path: /test.Echo
    backend: b
  - name: guarded
    path: /test.Guarded
    backend: b
    policies:
      inbound:
        - { policy: check-header, with: { name: x-key, values: ["1"], failed-check-httpcode: 401, failed-check-error-message: "key missing: 100%" } }
  - name: denied
    path: /test.Denied
    backend: b
    policies: { inbound: [ { policy: ip-filter, with: { action: forbid, address: ["127.0.0.1", "::1"] } } ] }
  - name: shaped
    path: /test.Shaped
    backend: b
    policies:
      inbound: [ { policy: set-header, with: { name: x-test, value: "set-by-gateway" } } ]
      outbound: [ { policy: set-header, with: { name: x-initial, value: "changed-by-gateway" } } ]
  - name: keyed
    path: /test.Keyed
    backend: b
    subscriptionRequired: true
  - name: secure
    path: /test.Secure
    backend: secure
  - name: down
    path: /test.Down
    backend: down
subscriptions:
  - { name: alice, scope: "api:keyed", primaryKey: alice-primary-0123456789 }
  - { name: bob, scope: "api:keyed", state: suspended, primaryKey: bob-suspended-0123456789 }
backends:
  b: { urls: ["${backend}"] }
  down: { urls: ["http://127.0.0.1:${down}/test.Echo"] }
  secure: { urls: ["https://127.0.0.1:${tlsPort}/test.Echo"], tls: { ca: ${ca.certFile}, sni: backend.test } }
`,
      env: { PORTICO_NET_SERVER_GRPC_PORT: String(grpcPort) },
    });
  });

  after(async () => {
    await gateway?.stop();
    server?.forceShutdown();
    tlsBackend?.kill();
  });

  it("unary: request metadata reaches the backend, response metadata, message and trailing metadata reach the client", async () => {
    const c = client(grpcPort, "/test.Echo");
    const r = await unary(c, "Unary", Buffer.from("hi"), metadata({ "x-test": "unary-md" }));
    c.close();
    assert.equal(r.error, null);
    assert.equal(r.value?.toString(), "echo:hi");
    assert.equal(seen.unary, "unary-md");
    assert.equal(seen.forwardedFor, "127.0.0.1", "the gateway names the client to the backend");
    assert.equal(r.initial?.get("x-initial")[0], "yes");
    assert.equal(r.status?.code, grpc.status.OK);
    assert.equal(r.status?.metadata.get("x-trailer")[0], "done");
  });

  it("inbound policies change the request metadata and outbound policies the response metadata", async () => {
    const c = client(grpcPort, "/test.Shaped");
    const r = await unary(c, "Unary", Buffer.from("p"), metadata({ "x-test": "from-client" }));
    c.close();
    assert.equal(r.value?.toString(), "echo:p");
    assert.equal(seen.unary, "set-by-gateway");
    assert.equal(r.initial?.get("x-initial")[0], "changed-by-gateway");
    assert.equal(r.status?.metadata.get("x-trailer")[0], "done", "the trailers still pass");
  });

  it("server streaming: every message and the trailers", async () => {
    const c = client(grpcPort, "/test.Echo");
    const call = c.ServerStream(Buffer.from("s"), metadata({ "x-test": "ss-md" }));
    const got: string[] = [];
    call.on("data", (d: Buffer) => got.push(d.toString()));
    const status = await new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    c.close();
    assert.deepEqual(got, ["s-0", "s-1", "s-2"]);
    assert.equal(seen.serverStream, "ss-md");
    assert.equal(status.code, grpc.status.OK);
    assert.equal(status.metadata.get("x-trailer")[0], "done");
  });

  it("client streaming: every message reaches the backend, its one answer and trailers come back", async () => {
    const c = client(grpcPort, "/test.Echo");
    let statusOf: grpc.StatusObject | undefined;
    const value = await new Promise<Buffer>((resolve, reject) => {
      const call = c.ClientStream(metadata({ "x-test": "cs-md" }), (error: Error | null, v: Buffer) => (error ? reject(error) : resolve(v)));
      call.on("status", (s: grpc.StatusObject) => (statusOf = s));
      for (const part of ["a", "b", "c"]) call.write(Buffer.from(part));
      call.end();
    });
    await until(() => statusOf !== undefined, "the status");
    c.close();
    assert.equal(value.toString(), "a+b+c");
    assert.equal(seen.clientStream, "cs-md");
    assert.equal(statusOf!.metadata.get("x-trailer")[0], "done");
  });

  it("bidirectional streaming: messages both ways in turn, metadata and trailers", async () => {
    const c = client(grpcPort, "/test.Echo");
    const call = c.Bidi(metadata({ "x-test": "bidi-md" }));
    let initial: grpc.Metadata | undefined;
    call.on("metadata", (m: grpc.Metadata) => (initial = m));
    const got: string[] = [];
    const statusP = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.on("data", (d: Buffer) => got.push(d.toString()));
    // Each answer comes back before the next message is sent: the stream is relayed, not buffered.
    for (const part of ["1", "2", "3"]) {
      call.write(Buffer.from(part));
      await until(() => got.length === Number(part), `the answer to message ${part}`);
    }
    call.end();
    const status = await statusP;
    c.close();
    assert.deepEqual(got, ["re:1", "re:2", "re:3"]);
    assert.equal(seen.bidi, "bidi-md");
    assert.equal(initial?.get("x-initial")[0], "bidi");
    assert.equal(status.code, grpc.status.OK);
    assert.equal(status.metadata.get("x-trailer")[0], "done");
  });

  it("a client that does not read holds the backend back: the gateway relays with flow control instead of buffering the stream", async () => {
    // A bare HTTP/2 client: grpc-js's own client reads everything it is sent, whether the caller reads or not.
    const session = connect(`http://127.0.0.1:${grpcPort}`);
    try {
      const stream = session.request({ ":method": "POST", ":path": "/test.Echo/Flood", "content-type": "application/grpc", te: "trailers" });
      stream.end(frame(Buffer.from("f")));
      stream.pause();
      // Nothing is read for a while: the backend must stall far short of its 64 MiB.
      await until(() => flooded > 0, "the backend to start writing");
      await new Promise((r) => setTimeout(r, 1_500));
      const stalledAt = flooded;
      assert.ok(stalledAt < FLOOD_COUNT / 4, `the backend wrote ${stalledAt} of ${FLOOD_COUNT} messages to a client that read none`);
      let received = 0;
      let trailers: IncomingHttpHeaders | undefined;
      stream.on("trailers", (t) => (trailers = t));
      const closed = new Promise((resolve) => stream.on("close", resolve));
      stream.on("data", (d: Buffer) => (received += d.length));
      stream.resume();
      await closed;
      assert.equal(received, (FLOOD_CHUNK + 5) * FLOOD_COUNT, "then every byte arrives");
      assert.equal(trailers?.["grpc-status"], "0");
    } finally {
      session.close();
    }
  });

  it("a deadline that expires: DEADLINE_EXCEEDED, grpc-timeout reaches the backend, and the backend's stream is cancelled", async () => {
    const c = client(grpcPort, "/test.Echo");
    const r = await unary(c, "Slow", Buffer.from("x"), metadata({ "x-id": "client" }), { deadline: Date.now() + 2_000 });
    c.close();
    assert.equal(r.status?.code, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(seen["slow-client"], "deadline", "grpc-timeout is passed on to the backend");
    await until(() => cancelled.includes("client"), "the backend call to be cancelled");
  });

  it("the gateway enforces grpc-timeout itself (a client that does not): DEADLINE_EXCEEDED in trailers-only, backend cancelled", async () => {
    const r = await rawCall(grpcPort, { ":path": "/test.Echo/Slow", "grpc-timeout": "1500m", "x-id": "raw" });
    assert.equal(r.headers[":status"], 200);
    assert.equal(r.headers["grpc-status"], String(grpc.status.DEADLINE_EXCEEDED));
    assert.match(String(r.headers["grpc-message"]), /Deadline exceeded at the gateway/);
    assert.equal(r.body.length, 0);
    assert.equal(seen["slow-raw"], "deadline");
    await until(() => cancelled.includes("raw"), "the backend call to be cancelled");
  });

  it("an https:// backend: h2 over TLS with the backend's CA and server name", async () => {
    const c = client(grpcPort, "/test.Secure");
    const r = await unary(c, "Unary", Buffer.from("s"), new grpc.Metadata());
    c.close();
    assert.equal(r.status?.code, grpc.status.OK, r.status?.details);
    assert.equal(r.value?.toString(), "tls:s");
    assert.equal(r.status?.metadata.get("x-trailer")[0], "tls");
  });

  it("a backend that is down: UNAVAILABLE", async () => {
    const c = client(grpcPort, "/test.Down");
    const r = await unary(c, "Unary", Buffer.from("x"), new grpc.Metadata());
    c.close();
    assert.equal(r.status?.code, grpc.status.UNAVAILABLE);
    assert.match(r.status?.details ?? "", /could not be reached/);
  });

  it("check-header rejects: UNAUTHENTICATED with the policy's message percent-encoded, trailers-only, no HTTP 4xx and no body", async () => {
    const c = client(grpcPort, "/test.Guarded");
    const r = await unary(c, "Unary", Buffer.from("x"), new grpc.Metadata());
    const ok = await unary(c, "Unary", Buffer.from("ok"), metadata({ "x-key": "1" }));
    c.close();
    assert.equal(r.status?.code, grpc.status.UNAUTHENTICATED);
    assert.equal(r.status?.details, "key missing: 100%");
    assert.equal(ok.status?.code, grpc.status.OK, "with the header the call goes through");
    assert.equal(ok.value?.toString(), "echo:ok");
    const raw = await rawCall(grpcPort, { ":path": "/test.Guarded/Unary" });
    assert.equal(raw.headers[":status"], 200);
    assert.equal(raw.headers["content-type"], "application/grpc");
    assert.equal(raw.headers["grpc-status"], "16");
    assert.equal(raw.headers["grpc-message"], "key missing: 100%25");
    assert.equal(raw.body.length, 0, "no problem+json body");
  });

  it("subscription keys: none is UNAUTHENTICATED, a suspended subscription PERMISSION_DENIED, a valid key passes and is not forwarded", async () => {
    const c = client(grpcPort, "/test.Keyed");
    const none = await unary(c, "Unary", Buffer.from("x"), new grpc.Metadata());
    const suspended = await unary(c, "Unary", Buffer.from("x"), metadata({ "ocp-apim-subscription-key": "bob-suspended-0123456789" }));
    const valid = await unary(c, "Unary", Buffer.from("k"), metadata({ "ocp-apim-subscription-key": "alice-primary-0123456789" }));
    c.close();
    assert.equal(none.status?.code, grpc.status.UNAUTHENTICATED);
    assert.match(none.status?.details ?? "", /missing subscription key/);
    assert.equal(suspended.status?.code, grpc.status.PERMISSION_DENIED);
    assert.equal(valid.status?.code, grpc.status.OK);
    assert.equal(valid.value?.toString(), "echo:k");
    assert.equal(seen.key, undefined, "the key is not forwarded");
  });

  it("ip-filter rejects: PERMISSION_DENIED", async () => {
    const c = client(grpcPort, "/test.Denied");
    const r = await unary(c, "Unary", Buffer.from("x"), new grpc.Metadata());
    c.close();
    assert.equal(r.status?.code, grpc.status.PERMISSION_DENIED);
  });

  it("an unknown path or one that is not a method path: UNIMPLEMENTED; a request that is not gRPC: 415", async () => {
    const c = client(grpcPort, "/test.Nowhere");
    const r = await unary(c, "Unary", Buffer.from("x"), new grpc.Metadata());
    c.close();
    assert.equal(r.status?.code, grpc.status.UNIMPLEMENTED);
    const sneaky = await rawCall(grpcPort, { ":path": "/test.Echo/../test.Guarded/Unary" });
    assert.equal(sneaky.headers["grpc-status"], "12", "a path with dot segments is not routed");
    const notGrpc = await rawCall(grpcPort, { ":path": "/test.Echo/Unary", "content-type": "application/json" }, Buffer.from("{}"));
    assert.equal(notGrpc.headers[":status"], 415);
  });

  it("each call has an access line with the gRPC status and no metadata values", async () => {
    await gateway.waitForOutput(/"grpcStatus":16/, 10_000);
    const lines = gateway.output().split("\n").filter((l) => l.includes('"protocol":"grpc"'));
    assert.ok(lines.some((l) => l.includes('"path":"/test.Echo/Unary"') && l.includes('"grpcStatus":0') && l.includes('"api":"echo"')));
    assert.ok(!gateway.output().includes("unary-md"), "metadata values are never logged");
  });

  // Last: it stops the gateway.
  it("on SIGTERM a call in flight finishes, then the gateway exits", async () => {
    const c = client(grpcPort, "/test.Echo");
    const pending = unary(c, "Held", Buffer.from("late"), new grpc.Metadata());
    await until(() => held.length === 1, "the backend to have the call");
    const from = gateway.output().length;
    gateway.child.kill("SIGTERM");
    let exited = false;
    void gateway.exited().then(() => (exited = true));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(exited, false, "the gateway waits for the call in flight");
    held[0]!();
    const r = await pending;
    c.close();
    assert.equal(r.status?.code, grpc.status.OK);
    assert.equal(r.value?.toString(), "held:late");
    await gateway.exited();
    assert.match(gateway.output().slice(from), /"path":"\/test.Echo\/Held"/, "the call was logged");
  });
});

describe("gRPC listener connection limits (net.server.timeouts.header and keep-alive)", () => {
  let server: grpc.Server;
  let gateway: GatewayProcess;
  let grpcPort: number;

  before(async () => {
    server = new grpc.Server();
    server.addService(service("/test.Echo"), {
      // Answers after 3 s: longer than the gateway's 1 s idle timeout.
      Slow(call: AnyClient, callback: AnyClient) {
        setTimeout(() => callback(null, Buffer.from(`slow:${call.request}`)), 3_000);
      },
    });
    const backendPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port)))
    );
    grpcPort = await freePort();
    gateway = await startGatewayProcess({
      config: `
apis:
  - { name: echo, path: /test.Echo, backend: b }
backends:
  b: { urls: ["http://127.0.0.1:${backendPort}/test.Echo"] }
`,
      env: { PORTICO_NET_SERVER_GRPC_PORT: String(grpcPort), PORTICO_NET_SERVER_TIMEOUTS_KEEP_ALIVE: "1s" },
    });
  });

  after(async () => {
    await gateway?.stop();
    server?.forceShutdown();
  });

  it("closes an HTTP/2 session with no call after net.server.timeouts.keep-alive", async () => {
    const started = Date.now();
    const session = connect(`http://127.0.0.1:${grpcPort}`);
    session.on("error", () => {});
    const ms = await new Promise<number>((resolve) => session.once("close", () => resolve(Date.now() - started)));
    assert.ok(ms >= 800 && ms < 6_000, `the idle session closed after ${ms} ms (keep-alive 1 s)`);
  });

  it("closes a connection that sends nothing after net.server.timeouts.header (10 s by default)", async () => {
    const started = Date.now();
    const silent = netConnect(grpcPort, "127.0.0.1");
    silent.on("error", () => {});
    const ms = await new Promise<number>((resolve) => silent.once("close", () => resolve(Date.now() - started)));
    assert.ok(ms >= 8_000 && ms < 20_000, `the silent connection closed after ${ms} ms (header timeout 10 s)`);
  });

  it("keeps a connection whose call is in flight longer than the idle timeout", async () => {
    const c = client(grpcPort, "/test.Echo");
    const r = await unary(c, "Slow", Buffer.from("patient"), new grpc.Metadata());
    c.close();
    assert.equal(r.error, null, `the call failed: ${r.error?.message}`);
    assert.equal(r.value?.toString(), "slow:patient");
  });
});
