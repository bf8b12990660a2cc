/**
 * Per-request cost of validate-jwt, in process, in one run: `bun bench/jwt.ts` (also
 * `deno run -A bench/jwt.ts`, `node --import tsx bench/jwt.ts`). Each request goes through the
 * proxy's `forward` (exchange, request chain, a stub backend that answers 200 at once) on a
 * pipeline compiled from a real configuration, so the numbers are what the policy adds to a request:
 * no policy; validate-jwt with RS256 and ES256 on fresh tokens (each token seen once: jose's
 * jwtVerify with the key the header names, then the claims); and one token repeated (the
 * verified-token cache: a sha256 and a lookup). The no-policy requests carry the same token header,
 * so the difference is the policy's (the policy exchange every policy needs included). Each batch
 * starts after a full collection; prints the median of 7 batches (one of each case per round) after
 * 2 warm-up rounds, in µs per request, and the cost over no policy; then, for reference, jose's
 * `jwtVerify` called alone on the same RS256 tokens with one imported key (no proxy, no lookup, no
 * claims map): the part of the fresh-token cost that is jose's (WebCrypto) work.
 * Targets (issue 13): RS256 ≤ 60 µs, repeated ≤ 5 µs. Tokens are signed with node:crypto only to
 * make the test data quickly; nothing here verifies with it.
 */
import { generateKeyPairSync, sign as cryptoSign } from "node:crypto";
import { importSPKI, jwtVerify } from "jose";
import { mustBuild, snapshotFromValue } from "../config/snapshot/build.ts";
import { PipelineHolder } from "../runtime/pipeline/pipeline.ts";
import type { PolicyReporting } from "../runtime/policy/chain.ts";
import { forward } from "../runtime/proxy/proxy.ts";
import { detectRuntime } from "../runtime/server/detect.ts";
import type { UpstreamClient } from "../runtime/upstream/client.ts";

const BATCH = 2_000;
const BATCHES = 7;
const WARMUP_BATCHES = 2;

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const rsaPem = rsa.publicKey.export({ type: "spki", format: "pem" }) as string;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A token like an identity provider's: about 700 bytes for RS256. */
function token(alg: "RS256" | "ES256", i: number): string {
  const header = b64({ alg, kid: alg === "RS256" ? "rsa" : "ec", typ: "JWT" });
  const now = Math.floor(Date.now() / 1000);
  const payload = b64({
    iss: "https://login.example.com/tenant/v2.0",
    aud: "api://orders",
    sub: `user-${i}`,
    oid: "7f9c1f8e-3b1e-4f8e-9a55-0d1d5b0e4c1a",
    roles: ["orders.read", "orders.write"],
    scp: "orders.read orders.write",
    iat: now,
    nbf: now,
    exp: now + 3_600,
    jti: `jti-${i}`,
  });
  const input = `${header}.${payload}`;
  const signature = alg === "RS256" ? cryptoSign("sha256", Buffer.from(input), rsa.privateKey) : cryptoSign("sha256", Buffer.from(input), {
    key: ec.privateKey,
    dsaEncoding: "ieee-p1363",
  });
  return `${input}.${signature.toString("base64url")}`;
}

const jwtWith = {
  "issuer-signing-keys": [{ pem: rsaPem, id: "rsa" }, { ...ec.publicKey.export({ format: "jwk" }), kid: "ec" }],
  issuers: ["https://login.example.com/tenant/v2.0"],
  audiences: ["api://orders"],
};
const snapshot = mustBuild(snapshotFromValue({
  apis: [
    { name: "none", path: "/none", backend: "main" },
    { name: "jwt", path: "/jwt", backend: "main", policies: { inbound: [{ policy: "validate-jwt", with: jwtWith }] } },
  ],
  backends: { main: { urls: ["http://127.0.0.1:9"] } },
}));
const pipeline = await new PipelineHolder().apply(snapshot);

const upstream: UpstreamClient = { send: () => Promise.resolve(new Response(null, { status: 200 })), close: () => Promise.resolve() };
const silent = { format: "none" as const, debug() {}, info() {}, warn() {}, error() {}, access() {} };
const unaccounted = { record() {} };
const reporting: PolicyReporting = { logger: silent, metrics: { policy: () => unaccounted } };

/** One request through the proxy on the compiled pipeline; throws unless the backend's 200 comes back. */
async function request(path: string, authorization: string | undefined): Promise<void> {
  const headers = new Headers({ host: "gw.example", accept: "application/json" });
  if (authorization) headers.set("authorization", authorization);
  const req = new Request(`http://gw.example${path}`, { headers });
  const route = pipeline.router.match(null, "GET", path);
  if ("miss" in route) throw new Error(`no route for ${path}`);
  const response = await forward(upstream, reporting, {
    request: req,
    clientBody: undefined,
    backend: route.api.target.backend,
    rest: route.rest,
    search: "",
    path,
    client: { ip: "10.1.2.3", proto: "http" },
    chains: route.api.target.chains,
    api: route.api.target.api.name,
    backends: pipeline.backends,
  });
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
}

const TOTAL = BATCH * (WARMUP_BATCHES + BATCHES);
const rsTokens = Array.from({ length: TOTAL }, (_, i) => `Bearer ${token("RS256", i)}`);
const esTokens = Array.from({ length: TOTAL }, (_, i) => `Bearer ${token("ES256", i)}`);
const repeated = rsTokens[0]!;
const joseKey = await importSPKI(rsaPem, "RS256");

/** The cases, measured in interleaved batches (one batch of each per round) so that drift and JIT tiering hit them alike. */
const cases: [string, (i: number) => Promise<unknown>][] = [
  // The same request bytes as the repeated case (token header included), so the difference is the policy's.
  ["no policy", () => request("/none/orders", repeated)],
  ["validate-jwt RS256, fresh tokens", (i) => request("/jwt/orders", rsTokens[i])],
  ["validate-jwt ES256, fresh tokens", (i) => request("/jwt/orders", esTokens[i])],
  ["validate-jwt, repeated token", () => request("/jwt/orders", repeated)],
  ["reference: jose jwtVerify alone", (i) => jwtVerify(rsTokens[i]!.slice(7), joseKey, { algorithms: ["RS256"], audience: "api://orders" })],
];
/** A full collection before each batch (Bun.gc, or gc() under --expose-gc), so a batch is not charged for the previous one's garbage. */
const collect: () => void = (globalThis as { Bun?: { gc(full: boolean): void } }).Bun?.gc.bind(null, true) ??
  (globalThis as { gc?: () => void }).gc ?? (() => {});
const samples = cases.map(() => [] as number[]);
for (let b = 0; b < WARMUP_BATCHES + BATCHES; b++) {
  for (const [c, [, run]] of cases.entries()) {
    collect();
    const started = performance.now();
    for (let k = 0; k < BATCH; k++) await run(b * BATCH + k);
    if (b >= WARMUP_BATCHES) samples[c]!.push(((performance.now() - started) * 1000) / BATCH);
  }
}
const [none, rsFresh, esFresh, again, jose] = samples.map((list) => list.sort((a, b) => a - b)[list.length >> 1]!) as [number, number, number, number, number];

const row = (name: string, value: number, base?: number) =>
  `${name.padEnd(34)} ${value.toFixed(2).padStart(8)} µs${base === undefined ? "" : `  (+${(value - base).toFixed(2)} µs over no policy)`}`;
console.log(
  [
    `${detectRuntime()}: median µs per request through the proxy (${BATCHES} interleaved batches of ${BATCH} after ${WARMUP_BATCHES} warm-up)`,
    row("no policy", none),
    row("validate-jwt RS256, fresh tokens", rsFresh, none),
    row("validate-jwt ES256, fresh tokens", esFresh, none),
    row("validate-jwt, repeated token", again, none),
    row("reference: jose jwtVerify RS256 alone", jose),
  ].join("\n"),
);
