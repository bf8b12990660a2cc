import { timingSafeEqual } from "node:crypto";
import { type Context, Hono } from "hono";
import { problemResponse } from "../runtime/http/problem.ts";
import { adminPageResponse } from "./admin-page.ts";
import { MAX_HEARTBEAT_BYTES, textWithin } from "./heartbeat.ts";
import type { ControlPlane, HeartbeatReport } from "./service.ts";
import { verifyToken } from "./tokens.ts";

/** Causes of the control plane's own errors, each a stable problem `type`. */
const PROBLEMS = {
  unauthorized: { status: 401, title: "The token was refused" },
  "not-found": { status: 404, title: "No such resource" },
  "no-configuration": { status: 503, title: "The control plane has no valid configuration yet" },
  "bad-request": { status: 400, title: "The request is malformed" },
  "too-large": { status: 413, title: "The request body is too large" },
} as const;

/**
 * A problem response of the control plane (type `urn:portico:problem:control-plane:<kind>`), built
 * by the shared problem module; `extra` members (such as `reason`) are for clients to act on, and a
 * 401 says which credential `scheme` to send.
 */
function problem(kind: keyof typeof PROBLEMS, detail?: string, extra: Readonly<Record<string, string>> = {}, scheme = "GatewayKey"): Response {
  const { status, title } = PROBLEMS[kind];
  const headers = status === 401 ? { "www-authenticate": `${scheme} realm="portico"` } : undefined;
  return problemResponse({ kind: `control-plane:${kind}`, title, status, detail: detail || undefined, extensions: extra, headers });
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The ETag of a view: its sha256, quoted. */
function etag(hash: string): string {
  return `"${hash}"`;
}

/** Whether an `If-None-Match` header names this ETag (a list, weak tags and `*` included). */
function matches(header: string | undefined, tag: string): boolean {
  if (!header) return false;
  return header.split(",").some((t) => {
    const v = t.trim();
    return v === "*" || v === tag || v === `W/${tag}`;
  });
}

/** How the API learns about the connection a request came on. */
export interface ControlPlaneAppOptions {
  /** The client's address for a request (the adapter knows how to read it from the runtime's per-request value); "unknown" without it. */
  readonly clientAddress?: (request: Request, env: unknown) => string;
}

/**
 * The control plane's HTTP API. Gateways, with their access token: their configuration view
 * (ETag/If-None-Match), policy modules by sha256, heartbeats. Operators, with the admin token: the
 * status of the desired configuration and of every gateway, the fleet's traffic from the heartbeats
 * (`/v1/admin/metrics`), and a web page (`/`, `/admin`) that shows
 * it once given the admin token (the page itself holds no data). Every refused token is logged
 * (rate-limited per client address, never the token: see AuthFailureLog).
 */
export function controlPlaneApp(plane: ControlPlane, options: ControlPlaneAppOptions = {}): Hono {
  const app = new Hono();

  const sourceOf = (c: Context): string => {
    try {
      return options.clientAddress?.(c.req.raw, c.env) || "unknown";
    } catch {
      return "unknown";
    }
  };

  /** Checks a gateway's token for the gateway named in the path; undefined when it may proceed. */
  const refuse = (c: Context, name: string): Response | undefined => {
    const check = verifyToken(c.req.header("authorization"), (g) => plane.keys.keysOf(g));
    if (check.ok && check.claims.gateway === name) return undefined;
    // The log gets the cause (which may be "unknown gateway"); the client gets the reason, which never tells whether a name exists.
    const reason = check.ok ? "wrong gateway" : check.reason;
    plane.authFailed(
      { source: sourceOf(c), credential: "gateway token", reason: check.ok ? reason : check.cause, gateway: name, method: c.req.method, path: c.req.path },
      { name: check.ok ? name : (check.claims?.gateway ?? name), reason },
    );
    const detail = check.ok ? `gateway token refused: it is for gateway "${check.claims.gateway}", not "${name}"` : `gateway token refused: ${reason}`;
    return problem("unauthorized", detail, { reason });
  };

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/", () => adminPageResponse());
  app.get("/admin", () => adminPageResponse());

  app.get("/v1/gateways/:name/configuration", (c) => {
    const name = c.req.param("name");
    const refused = refuse(c, name);
    if (refused) return refused;
    const view = plane.viewFor(name);
    if (!view) return problem("no-configuration", "the desired configuration has not validated yet; see the control plane's log");
    const tag = etag(view.hash);
    const headers = { etag: tag, "portico-revision": String(view.revision), "cache-control": "no-cache" };
    if (matches(c.req.header("if-none-match"), tag)) {
      plane.pulled(name, 304);
      return new Response(null, { status: 304, headers });
    }
    plane.pulled(name, 200);
    return new Response(view.body, { status: 200, headers: { ...headers, "content-type": "application/json" } });
  });

  app.get("/v1/gateways/:name/modules/:digest", (c) => {
    const name = c.req.param("name");
    const refused = refuse(c, name);
    if (refused) return refused;
    const digest = c.req.param("digest");
    // Least privilege: a gateway gets only the modules its own view uses, not every stored one.
    const bytes = plane.viewFor(name)?.modules.includes(digest) ? plane.modules.get(digest) : undefined;
    if (!bytes) return problem("not-found", `gateway "${name}"'s view uses no module with sha256 ${digest}`);
    return new Response(bytes, {
      status: 200,
      headers: { "content-type": "application/wasm", etag: etag(digest), "cache-control": "public, max-age=31536000, immutable" },
    });
  });

  app.post("/v1/gateways/:name/heartbeat", async (c) => {
    const name = c.req.param("name");
    const refused = refuse(c, name);
    if (refused) return refused;
    const text = await textWithin(c.req.raw, MAX_HEARTBEAT_BYTES);
    if (text === undefined) {
      plane.heartbeatTooLarge(name);
      return problem("too-large", `a heartbeat is at most ${MAX_HEARTBEAT_BYTES} bytes`);
    }
    let report: unknown;
    try {
      report = JSON.parse(text);
    } catch {
      return problem("bad-request", "a heartbeat is a JSON object");
    }
    if (!report || typeof report !== "object" || Array.isArray(report)) return problem("bad-request", "a heartbeat is a JSON object");
    plane.heartbeat(name, report as HeartbeatReport);
    return new Response(null, { status: 204 });
  });

  app.use("/v1/admin/*", async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const token = /^bearer\s+/i.test(header) ? header.replace(/^bearer\s+/i, "").trim() : "";
    if (!token || !sameSecret(token, plane.adminToken)) {
      const reason = token ? "bad admin token" : "missing";
      plane.authFailed({ source: sourceOf(c), credential: "admin token", reason, method: c.req.method, path: c.req.path });
      return problem("unauthorized", "admin token required (Authorization: Bearer <token from DIR/state/admin-token>)", { reason }, "Bearer");
    }
    await next();
  });

  app.get("/v1/admin/status", (c) => c.json(plane.status()));

  app.get("/v1/admin/metrics", (c) => c.json(plane.metrics()));

  app.get("/v1/admin/gateways/:name", (c) => {
    const entry = plane.status().gateways.find((g) => g.name === c.req.param("name"));
    return entry ? c.json(entry) : problem("not-found", `no gateway named ${JSON.stringify(c.req.param("name"))}`);
  });

  app.notFound(() => problem("not-found"));
  return app;
}
