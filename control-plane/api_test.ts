import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../test/harness.ts";
import { controlPlaneApp } from "./api.ts";
import { ControlPlane } from "./service.ts";
import { createToken } from "./tokens.ts";

/** A control plane in a temporary folder, its API in-process, and every line it logs. */
describe("control plane API: refused tokens", () => {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const log = (level: string) => (message: string, fields: Record<string, unknown> = {}) => void lines.push({ level, message, fields });
  let plane: ControlPlane;
  let app: ReturnType<typeof controlPlaneApp>;
  let source = "192.0.2.7";
  let good: string;

  before(() => {
    plane = new ControlPlane(tempDir(), { info: log("info"), warn: log("warn"), error: log("error") });
    plane.reload();
    app = controlPlaneApp(plane, { clientAddress: () => source });
    const key = plane.keys.ensure("edge-1", "primary");
    good = createToken({ gateway: "edge-1", key: "primary", generation: key.generation, expires: Date.now() + 3_600_000 }, key);
  });
  after(() => plane?.close());

  const get = (path: string, authorization?: string) => app.fetch(new Request(`http://cp${path}`, { headers: authorization ? { authorization } : {} }));
  const failures = () => lines.filter((l) => l.message.startsWith("control plane authentication"));

  it("gives a token for an unknown gateway the same 401 as a token with a bad signature for a known one", async () => {
    const forged = `${good.slice(0, -4)}${good.endsWith("AAAA") ? "BBBB" : "AAAA"}`;
    const ghostKey = { secret: new Uint8Array(32).fill(7), generation: 1 };
    const ghost = createToken({ gateway: "ghost", key: "primary", generation: 1, expires: Date.now() + 3_600_000 }, ghostKey);
    const known = await get("/v1/gateways/edge-1/configuration", `GatewayKey ${forged}`);
    source = "192.0.2.8"; // another client, so its refusal is logged too (one line per source per interval)
    const unknown = await get("/v1/gateways/ghost/configuration", `GatewayKey ${ghost}`);
    assert.equal(known.status, 401);
    assert.equal(unknown.status, known.status);
    assert.deepEqual([...unknown.headers], [...known.headers]);
    const body = await known.text();
    assert.equal(await unknown.text(), body);
    assert.deepEqual(JSON.parse(body), {
      type: "urn:portico:problem:control-plane:unauthorized",
      title: "The token was refused",
      status: 401,
      detail: "gateway token refused: bad signature",
      reason: "bad signature",
    });
    // The control plane's own log tells the two apart, for the operator.
    assert.deepEqual(
      failures().slice(-2).map((l) => l.fields.reason),
      ["bad signature", "unknown gateway"],
    );
    // Only the known gateway gets a refusal in the admin view.
    const status = plane.status();
    assert.equal(status.gateways.find((g) => g.name === "edge-1")?.lastAuthFailure?.reason, "bad signature");
    assert.equal(status.gateways.find((g) => g.name === "ghost"), undefined);
  });

  it("logs a refused gateway token and a refused admin token with source and reason, never the token", async () => {
    lines.length = 0;
    source = "198.51.100.23";
    const expired = createToken(
      { gateway: "edge-1", key: "primary", generation: 1, expires: Date.now() - 60_000 },
      plane.keys.keysOf("edge-1")!.current.primary,
    );
    const res = await get("/v1/gateways/edge-1/modules/abc", `GatewayKey ${expired}`);
    assert.equal((await res.json()).reason, "expired");
    source = "203.0.113.5";
    const admin = await get("/v1/admin/status", "Bearer not-the-admin-token-0123456789");
    assert.equal(admin.status, 401);
    assert.deepEqual(
      failures().map((l) => [l.level, l.message, l.fields]),
      [
        [
          "warn",
          "control plane authentication failed",
          {
            source: "198.51.100.23",
            credential: "gateway token",
            reason: "expired",
            gateway: "edge-1",
            method: "GET",
            path: "/v1/gateways/edge-1/modules/abc",
          },
        ],
        ["warn", "control plane authentication failed", {
          source: "203.0.113.5",
          credential: "admin token",
          reason: "bad admin token",
          gateway: undefined,
          method: "GET",
          path: "/v1/admin/status",
        }],
      ],
    );
    const text = JSON.stringify(lines);
    const signature = expired.slice(expired.lastIndexOf("&") + 1);
    for (const secret of [expired, signature, "not-the-admin-token-0123456789", plane.adminToken, good]) {
      assert.ok(!text.includes(secret), "no token in the log");
    }
  });

  it("answers refusals and errors as control-plane problems: problem+json, no-store, and a 401 names the credential scheme it wants", async () => {
    const gateway = await get("/v1/gateways/edge-1/configuration", "GatewayKey not-a-token");
    assert.equal(gateway.status, 401);
    assert.deepEqual([...gateway.headers], [["cache-control", "no-store"], ["content-type", "application/problem+json"], [
      "www-authenticate",
      'GatewayKey realm="portico"',
    ]]);
    assert.equal(
      await gateway.text(),
      '{"type":"urn:portico:problem:control-plane:unauthorized","title":"The token was refused","status":401,"detail":"gateway token refused: malformed","reason":"malformed"}',
    );
    const admin = await get("/v1/admin/status");
    assert.equal(admin.headers.get("www-authenticate"), 'Bearer realm="portico"');
    assert.equal((await admin.json()).reason, "missing");
    const missing = await get("/no/such/path");
    assert.equal(missing.status, 404);
    assert.deepEqual([...missing.headers], [["cache-control", "no-store"], ["content-type", "application/problem+json"]]);
    assert.equal(await missing.text(), '{"type":"urn:portico:problem:control-plane:not-found","title":"No such resource","status":404}');
  });

  it("writes one line per source per interval however many tokens it refuses", async () => {
    lines.length = 0;
    source = "192.0.2.99";
    for (let i = 0; i < 50; i++) await (await get("/v1/gateways/edge-1/configuration", "GatewayKey not-a-token")).body?.cancel();
    assert.equal(failures().length, 1);
    assert.equal(failures()[0]!.fields.reason, "malformed");
    // A good token is not a failure, and is never logged either.
    const ok = await get("/v1/gateways/edge-1/configuration", `GatewayKey ${good}`);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    assert.equal(failures().length, 1);
  });
});
