import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { join } from "node:path";
import { type GatewayProcess, startGatewayProcess, tempDir } from "../../test/harness.ts";
import { type OtlpReceiver, startOtlpReceiver } from "../../test/otlp-receiver.ts";
import { rawRequest } from "../../test/raw-http.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

/**
 * The client behind trusted proxies, end to end: the test's connections come from 127.0.0.1, which
 * one gateway trusts (127.0.0.1/32) and the other does not (10.0.0.0/8).
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
  - name: echo
    path: /echo
    backend: b
    policies: { inbound: [ { policy: set-query-parameter, with: { name: client, value: "{request.ip}" } } ] }
  - name: limited
    path: /limited
    backend: b
    policies: { inbound: [ { policy: rate-limit-by-key, with: { calls: 1, renewal-period: 60, counter-key: "{request.ip}" } } ] }
backends:
  b: { urls: ["${backend}"] }
`;

/** The access line of the request to `path` (unique per request in these tests). */
async function accessLine(gw: GatewayProcess, path: string): Promise<Record<string, unknown>> {
  const escaped = path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  await gw.waitForOutput(new RegExp(`"path":"${escaped}"`), 10_000);
  for (const text of gw.output().split("\n")) {
    if (!text.startsWith("{")) continue;
    const line = JSON.parse(text) as Record<string, unknown>;
    if (line.path === path && line.status !== undefined) return line;
  }
  throw new Error(`no access line for ${path}`);
}

describe("trusted proxies (net.server.http.forwarded.*)", () => {
  let backend: Upstream;
  let trusting: GatewayProcess;
  let untrusting: GatewayProcess;
  let receiver: OtlpReceiver;

  before(async () => {
    backend = await startUpstream();
    receiver = await startOtlpReceiver();
    [trusting, untrusting] = await Promise.all([
      startGatewayProcess({
        config: config(backend.url),
        env: {
          PORTICO_NET_SERVER_HTTP_FORWARDED_TRUSTED_PROXIES: "127.0.0.1/32,::1",
          PORTICO_NET_SERVER_HTTP_FORWARDED_PROTO_ENABLED: "true",
          PORTICO_TELEMETRY_OTLP_ENDPOINT: receiver.url,
          PORTICO_TELEMETRY_OTLP_SPOOL_PATH: join(tempDir(), "spool"),
          PORTICO_TELEMETRY_TRACES_RESPONSE_HEADER: "trace-id",
          OTEL_BSP_SCHEDULE_DELAY: "100",
          // Deno's own telemetry takes the global providers; Portico uses its own instances (no effect on Bun and Node).
          OTEL_DENO: "true",
        },
      }),
      startGatewayProcess({
        config: config(backend.url),
        env: { PORTICO_NET_SERVER_HTTP_FORWARDED_TRUSTED_PROXIES: "10.0.0.0/8", PORTICO_NET_SERVER_HTTP_FORWARDED_PROTO_ENABLED: "true" },
      }),
    ]);
  });

  after(async () => {
    await Promise.all([trusting?.stop(), untrusting?.stop()]);
    await backend?.close();
    await receiver?.stop();
  });

  const lastSeen = () => backend.seen[backend.seen.length - 1]!.headers;
  /** What `{request.ip}` rendered to: the `client` query parameter set-query-parameter added. */
  const templated = () => new URLSearchParams(backend.seen[backend.seen.length - 1]!.url.split("?")[1]).get("client");
  const get = (gw: GatewayProcess, path: string, ...headers: string[]) =>
    rawRequest(gw.port, [`GET ${path} HTTP/1.1`, "Host: gw.test", ...headers].join("\r\n"));

  it("a trusted peer's X-Forwarded-For is the client for ip-filter, {request.ip} (set-query-parameter), the access line and the backend's chain", async () => {
    const allowed = await get(trusting, "/allow/a", "X-Forwarded-For: 203.0.113.7");
    assert.equal(allowed.status, 200);
    const seen = lastSeen();
    assert.equal(templated(), "203.0.113.7");
    assert.equal(seen["x-forwarded-for"], "203.0.113.7, 127.0.0.1", "the peer is appended to the chain");
    assert.equal(seen.forwarded, "for=203.0.113.7;proto=http;host=gw.test, for=127.0.0.1");
    assert.equal((await accessLine(trusting, "/allow/a")).clientIp, "203.0.113.7");
    const denied = await get(trusting, "/allow/b", "X-Forwarded-For: 198.51.100.1");
    assert.equal(denied.status, 403, "198.51.100.1 is not allowed by the ip-filter");
    assert.equal((await accessLine(trusting, "/allow/b")).clientIp, "198.51.100.1");
  });

  it("an untrusted peer's forwarding headers are replaced: the client is the peer", async () => {
    const denied = await get(untrusting, "/allow/c", "X-Forwarded-For: 203.0.113.7", "Forwarded: for=203.0.113.7");
    assert.equal(denied.status, 403, "ip-filter sees 127.0.0.1");
    const res = await get(untrusting, "/echo/d", "X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https", "X-Forwarded-Host: evil.test");
    assert.equal(res.status, 200);
    const seen = lastSeen();
    assert.equal(templated(), "127.0.0.1");
    assert.equal(seen["x-forwarded-for"], "127.0.0.1");
    assert.equal(seen["x-forwarded-proto"], "http");
    assert.equal(seen["x-forwarded-host"], "gw.test");
    assert.equal(seen.forwarded, "for=127.0.0.1;proto=http;host=gw.test");
    assert.equal((await accessLine(untrusting, "/echo/d")).clientIp, "127.0.0.1");
  });

  it("rate-limit keys on {request.ip} count each forwarded client apart", async () => {
    assert.equal((await get(trusting, "/limited/1", "X-Forwarded-For: 203.0.113.8")).status, 200);
    assert.equal((await get(trusting, "/limited/2", "X-Forwarded-For: 203.0.113.8")).status, 429);
    assert.equal((await get(trusting, "/limited/3", "X-Forwarded-For: 203.0.113.9")).status, 200, "another client has its own counter");
  });

  it("reads Forwarded (RFC 7239) before X-Forwarded-For, IPv6 quoted with a port, and its proto with proto.enabled", async () => {
    const res = await get(trusting, "/allow/e", 'Forwarded: for="[2001:DB8::7]:4711";proto=https', "X-Forwarded-For: 198.51.100.1");
    assert.equal(res.status, 200);
    const seen = lastSeen();
    assert.equal(templated(), "2001:db8::7");
    assert.equal(seen["x-forwarded-for"], "2001:db8::7, 127.0.0.1");
    assert.equal(seen["x-forwarded-proto"], "https");
    assert.equal(seen.forwarded, 'for="[2001:db8::7]";proto=https;host=gw.test, for=127.0.0.1');
    const line = await accessLine(trusting, "/allow/e");
    assert.equal(line.clientIp, "2001:db8::7");
    assert.equal(line.scheme, "https");
  });

  it("with proto.enabled, a trusted peer's X-Forwarded-Proto and -Host reach the backend; routing and the access line's host stay the request's own", async () => {
    const res = await get(trusting, "/echo/f", "X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https", "X-Forwarded-Host: api.example.com");
    assert.equal(res.status, 200);
    const seen = lastSeen();
    assert.equal(seen["x-forwarded-proto"], "https");
    assert.equal(seen["x-forwarded-host"], "api.example.com");
    assert.equal(seen.forwarded, "for=203.0.113.7;proto=https;host=api.example.com, for=127.0.0.1");
    const line = await accessLine(trusting, "/echo/f");
    assert.equal(line.scheme, "https");
    assert.equal(line.host, "gw.test");
  });

  it("the trace's client.address and url.scheme are the forwarded client's", async () => {
    const res = await get(trusting, "/echo/t", "X-Forwarded-For: 203.0.113.44", "X-Forwarded-Proto: https");
    assert.equal(res.status, 200);
    const traceId = res.headers["trace-id"];
    assert.match(traceId ?? "", /^[0-9a-f]{32}$/);
    const server = () => receiver.spans().find((s) => s.traceId === traceId && s.attributes["client.address"] !== undefined);
    await receiver.waitFor(() => server() !== undefined, "the SERVER span");
    assert.equal(server()!.attributes["client.address"], "203.0.113.44");
    assert.equal(server()!.attributes["url.scheme"], "https");
  });

  it("spoofing stays safe: repeated headers, garbage and long chains", async () => {
    // Two X-Forwarded-For headers are one list; the right-most untrusted entry is the client, not the first one sent.
    const count = backend.seen.length;
    let res = await get(trusting, "/allow/g", "X-Forwarded-For: 203.0.113.7", "X-Forwarded-For: 198.51.100.1");
    assert.equal(res.status, 403);
    assert.equal(backend.seen.length, count, "the denied request never reached the backend");
    assert.equal((await accessLine(trusting, "/allow/g")).clientIp, "198.51.100.1");
    // Garbage on the walk: the peer is the client, and the backend gets the peer alone.
    res = await get(trusting, "/echo/h", "X-Forwarded-For: 203.0.113.7, <script>", "X-Forwarded-Proto: https");
    assert.equal(res.status, 200);
    assert.equal(templated(), "127.0.0.1");
    assert.equal(lastSeen()["x-forwarded-for"], "127.0.0.1");
    assert.equal(lastSeen()["x-forwarded-proto"], "http", "nothing is believed from a chain that is not believed");
    res = await get(trusting, "/echo/i", "Forwarded: for=unknown", "X-Forwarded-For: 203.0.113.7");
    assert.equal(templated(), "127.0.0.1", "a Forwarded without an address is not replaced by X-Forwarded-For");
    res = await get(trusting, "/echo/j", 'Forwarded: for="203.0.113.7');
    assert.equal(res.status, 200);
    assert.equal(templated(), "127.0.0.1");
    // A client that prepends many addresses cannot pick its own: only the right-most untrusted one counts.
    const spoofed = Array.from({ length: 200 }, (_, i) => `203.0.113.${i}`).join(", ");
    res = await get(trusting, "/echo/k", `X-Forwarded-For: ${spoofed}, 198.51.100.9`);
    assert.equal(templated(), "198.51.100.9");
    assert.equal(lastSeen()["x-forwarded-for"], "198.51.100.9, 127.0.0.1", "entries left of the client are not passed on");
    // More trusted hops than are walked: the chain is given up on.
    const hops = Array.from({ length: 40 }, () => "127.0.0.1").join(", ");
    res = await get(trusting, "/echo/l", `X-Forwarded-For: 203.0.113.7, ${hops}`);
    assert.equal(res.status, 200);
    assert.equal(templated(), "127.0.0.1");
  });
});
