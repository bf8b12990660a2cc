/**
 * The control plane's web page: one self-contained HTML document (inline CSS and plain JavaScript,
 * no external assets, so it works offline) that asks for the admin token, keeps it in
 * sessionStorage only, and renders `GET /v1/admin/status` and the fleet's traffic
 * (`GET /v1/admin/metrics`) every few seconds. The page itself holds
 * no data. Every value is put into the page with `textContent` (never as markup), and the response
 * carries a Content-Security-Policy that allows exactly this script and this style (by sha256).
 */
import { createHash } from "node:crypto";

/** How often the page asks for the status, in milliseconds. */
const ADMIN_PAGE_REFRESH_MS = 3_000;

const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #6e7781; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 1rem 1.5rem 3rem; max-width: 110rem; }
h1 { font-size: 1.4rem; margin: 0.5rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 0.5rem; }
form { display: flex; gap: 0.5rem; align-items: center; flex-wrap: wrap; margin-bottom: 1rem; }
input[type=password] { font: inherit; padding: 0.3rem 0.5rem; min-width: 24rem; }
button { font: inherit; padding: 0.3rem 0.8rem; cursor: pointer; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em; }
.muted { color: var(--muted); }
.notice { border: 1px solid var(--line); border-left: 4px solid var(--muted); padding: 0.5rem 0.8rem; margin: 0.5rem 0; }
.notice.error { border-left-color: var(--bad); }
.notice.warn { border-left-color: var(--warn); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 0.35rem 0.6rem; border-bottom: 1px solid var(--line); }
th { font-weight: 600; white-space: nowrap; }
h3 { font-size: 1rem; margin: 1rem 0 0.4rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
ul.problems { margin: 0.25rem 0 0; padding-left: 1.2rem; }
ul.problems li { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; white-space: pre-wrap; word-break: break-word; }
.badge { display: inline-block; padding: 0 0.45rem; border-radius: 0.6rem; font-size: 0.85em; font-weight: 600; color: #fff; }
.badge.ok { background: var(--ok); }
.badge.bad { background: var(--bad); }
.badge.warn { background: var(--warn); }
.warn-text { color: var(--warn); font-weight: 600; }
.bad-text { color: var(--bad); font-weight: 600; }
[hidden] { display: none !important; }
`;

// Plain browser JavaScript (ES2020), kept in a string so the page is one response. Values from the
// API only ever reach the page through textContent, title and dataset; never innerHTML.
const SCRIPT = `
"use strict";
(() => {
  const KEY = "portico-admin-token";
  const REFRESH_MS = ${ADMIN_PAGE_REFRESH_MS};
  const WEEK_MS = 7 * 24 * 3600 * 1000;
  const $ = (id) => document.getElementById(id);
  let timer = 0;
  let generation = 0;

  /** An element with an optional class and text (as text, never markup). */
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  const ago = (iso) => {
    if (!iso) return "never";
    const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
    if (!Number.isFinite(seconds)) return String(iso);
    if (seconds < 2) return "just now";
    if (seconds < 120) return seconds + " s ago";
    if (seconds < 7200) return Math.round(seconds / 60) + " min ago";
    if (seconds < 172800) return Math.round(seconds / 3600) + " h ago";
    return Math.round(seconds / 86400) + " days ago";
  };

  const revision = (rev) => (rev ? "r" + rev.revision + " · " + String(rev.hash).slice(0, 12) : "—");

  const timeCell = (className, iso) => {
    const td = el("td", className, ago(iso));
    if (iso) td.title = String(iso);
    return td;
  };

  const problemList = (problems) => {
    const ul = el("ul", "problems");
    for (const p of problems || []) ul.append(el("li", "", p));
    return ul;
  };

  const show = (id, message, kind) => {
    const node = $(id);
    node.textContent = message || "";
    node.className = "notice" + (kind ? " " + kind : "");
    node.hidden = !message;
  };

  const renderDesired = (status) => {
    const desired = $("desired");
    desired.replaceChildren();
    if (status.desired) {
      desired.append("Revision ", el("strong", "desired-revision", "r" + status.desired.revision), " · hash ");
      desired.append(el("code", "desired-hash", status.desired.hash), " · accepted ");
      const at = el("span", "desired-at", ago(status.desired.at));
      at.title = String(status.desired.at);
      desired.append(at);
    } else {
      desired.append(el("span", "bad-text", "No valid desired configuration yet: gateways receive nothing."));
    }
    const rejected = $("rejected");
    rejected.replaceChildren();
    rejected.hidden = !status.rejected;
    if (status.rejected) {
      const r = status.rejected;
      const head = el("div");
      head.append(el("strong", "bad-text", "Desired configuration rejected"), " (hash ", el("code", "", String(r.hash).slice(0, 12)), ", " + ago(r.at) + "): ");
      head.append(String((r.problems || []).length) + " problem(s); gateways keep receiving the last good revision.");
      rejected.append(head, problemList(r.problems));
    }
  };

  const renderGateway = (g) => {
    const tr = el("tr");
    tr.dataset.gateway = String(g.name);
    tr.append(el("td", "name", g.name));

    const online = el("td", "online");
    online.append(el("span", "badge " + (g.online ? "ok" : "bad"), g.online ? "online" : "offline"));
    tr.append(online);

    const beat = timeCell("heartbeat", g.lastHeartbeat);
    if (g.lastContact && g.lastContact !== g.lastHeartbeat) beat.append(el("div", "muted", "contact " + ago(g.lastContact)));
    tr.append(beat);

    tr.append(el("td", "desired mono", revision(g.desired)));
    tr.append(el("td", "applied mono", revision(g.applied)));

    const sync = el("td", "sync");
    sync.append(el("span", "badge " + (g.inSync ? "ok" : "warn"), g.inSync ? "in sync" : "not in sync"));
    tr.append(sync);

    const error = el("td", "error");
    if (g.lastError) {
      const e = g.lastError;
      error.append(el("div", "bad-text", e.message));
      const where = [];
      if (e.revision !== undefined && e.revision !== null) where.push("refused r" + e.revision);
      if (e.hash) where.push(String(e.hash).slice(0, 12));
      if (e.at) where.push(ago(e.at));
      if (where.length) error.append(el("div", "muted", where.join(" · ")));
      if (e.problems && e.problems.length) error.append(problemList(e.problems));
    } else {
      error.append(el("span", "muted", "none"));
    }
    tr.append(error);

    const auth = el("td", "auth");
    if (g.lastAuthFailure) {
      auth.append(el("div", "bad-text", g.lastAuthFailure.reason));
      auth.append(el("div", "muted", ago(g.lastAuthFailure.at)));
    } else {
      auth.append(el("span", "muted", "none"));
    }
    tr.append(auth);

    const expires = el("td", "expires");
    if (g.tokenExpires) {
      const left = Date.parse(g.tokenExpires) - Date.now();
      const text = left <= 0 ? "expired" : left < 2 * 86400000 ? "in " + Math.round(left / 3600000) + " h" : "in " + Math.round(left / 86400000) + " days";
      const span = el("span", left <= 0 ? "bad-text" : left <= WEEK_MS ? "warn-text" : "", text);
      span.title = String(g.tokenExpires);
      expires.append(span);
      if (left <= WEEK_MS) expires.classList.add("soon");
    } else {
      expires.append(el("span", "muted", "unknown"));
    }
    tr.append(expires);

    const about = el("td", "version");
    about.append(el("div", "", [g.version, g.runtime].filter(Boolean).join(" on ") || "—"));
    if (typeof g.uptimeSeconds === "number") about.append(el("div", "muted", "up " + Math.round(g.uptimeSeconds) + " s"));
    tr.append(about);
    return tr;
  };

  const latency = (v) => (typeof v === "number" ? (v < 10 ? v.toFixed(2) : v < 1000 ? v.toFixed(1) : String(Math.round(v))) + " ms" : "—");
  const share = (r) => (typeof r === "number" ? (r * 100).toFixed(r > 0 && r < 0.001 ? 3 : 1) + " %" : "—");
  const perSecond = (r) => (typeof r === "number" ? r.toFixed(r < 100 ? 2 : 0) + "/s" : "—");

  /** A row of traffic figures (per gateway or per API), keyed by data-KEY. */
  const trafficRow = (key, name, f, last) => {
    const tr = el("tr");
    tr.dataset[key] = String(name);
    tr.append(el("td", "name", name));
    tr.append(el("td", "num requests", String(f.requests)));
    tr.append(el("td", "num rate", perSecond(f.requestsPerSecond)));
    tr.append(el("td", "num errors4xx", share(f.errorRate4xx)));
    tr.append(el("td", "num errors5xx", share(f.errorRate5xx)));
    tr.append(el("td", "num p50", latency(f.p50Ms)));
    tr.append(el("td", "num p99", latency(f.p99Ms)));
    tr.append(el("td", "num p99max", latency(f.p99MaxMs)));
    tr.append(last);
    return tr;
  };

  const renderMetrics = (m) => {
    const f = m.fleet;
    $("traffic-window").textContent = "last " + Math.round(m.windowSeconds / 60) + " min, from heartbeats";
    $("traffic-fleet").textContent = "Fleet: " + f.gateways + " gateway(s) reporting · " + perSecond(f.requestsPerSecond) + " · " + f.requests +
      " requests · 4xx " + share(f.errorRate4xx) + " · 5xx " + share(f.errorRate5xx) + " · p50 " + latency(f.p50Ms) + " · p99 " + latency(f.p99Ms);
    $("traffic-gateways").replaceChildren(...(m.gateways || []).map((g) => {
      const covered = el("td", "num covered", Math.round(g.coveredSeconds) + " s");
      if (g.trafficRefused) covered.append(el("div", "bad-text", g.trafficRefused + " summary(ies) refused"));
      return trafficRow("gateway", g.name, g, covered);
    }));
    $("traffic-apis").replaceChildren(...(m.apis || []).map((a) => trafficRow("api", a.name, a, el("td", "num gateways", String(a.gateways)))));
    $("traffic-empty").hidden = (m.apis || []).length > 0;
  };

  const pollMetrics = async (token, mine) => {
    try {
      const res = await fetch("/v1/admin/metrics", { headers: { authorization: "Bearer " + token }, cache: "no-store", credentials: "omit" });
      if (mine !== generation) return;
      if (!res.ok) {
        show("traffic-message", "The traffic figures could not be read (" + res.status + "); retrying.", "warn");
        return;
      }
      renderMetrics(await res.json());
      show("traffic-message", "");
    } catch (error) {
      if (mine === generation) show("traffic-message", "The traffic figures could not be read (" + (error && error.message ? error.message : error) + "); retrying.", "warn");
    }
  };

  const render = (status) => {
    renderDesired(status);
    const rows = $("gateways");
    rows.replaceChildren(...(status.gateways || []).map(renderGateway));
    $("empty").hidden = (status.gateways || []).length > 0;
    $("status").hidden = false;
    $("updated").textContent = "Updated " + new Date().toLocaleTimeString();
  };

  const stop = () => {
    generation++;
    clearTimeout(timer);
  };

  const poll = async (mine) => {
    const token = sessionStorage.getItem(KEY);
    if (!token || mine !== generation) return;
    let res;
    try {
      res = await fetch("/v1/admin/status", { headers: { authorization: "Bearer " + token }, cache: "no-store", credentials: "omit" });
    } catch (error) {
      if (mine !== generation) return;
      show("message", "The control plane is unreachable (" + (error && error.message ? error.message : error) + "); retrying. The table shows the last answer.", "warn");
      timer = setTimeout(() => poll(mine), REFRESH_MS);
      return;
    }
    if (mine !== generation) return;
    if (res.status === 401) {
      let body = {};
      try { body = await res.json(); } catch (_) { /* not JSON */ }
      sessionStorage.removeItem(KEY);
      stop();
      $("status").hidden = true;
      $("forget").hidden = true;
      show("message", "Admin token refused (" + (body.reason || "401") + "): " + (body.detail || body.title || "unauthorized"), "error");
      return;
    }
    if (!res.ok) {
      show("message", "The control plane answered " + res.status + "; retrying.", "warn");
    } else {
      render(await res.json());
      show("message", "");
      await pollMetrics(token, mine);
      if (mine !== generation) return;
    }
    timer = setTimeout(() => poll(mine), REFRESH_MS);
  };

  const start = () => {
    stop();
    $("forget").hidden = false;
    poll(generation);
  };

  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("token");
    const token = input.value.trim();
    input.value = "";
    if (!token) return;
    sessionStorage.setItem(KEY, token);
    show("message", "Checking the token…");
    start();
  });

  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    stop();
    $("status").hidden = true;
    $("forget").hidden = true;
    show("message", "Token forgotten.");
  });

  if (sessionStorage.getItem(KEY)) start();
})();
`;

/** The page's HTML: static, the same for every request; it holds no data. */
const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Portico control plane</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Portico control plane</h1>
<form id="login" method="post" action="#" autocomplete="off">
  <label for="token">Admin token</label>
  <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" placeholder="content of DIR/state/admin-token">
  <button type="submit">Show status</button>
  <button type="button" id="forget" hidden>Forget token</button>
</form>
<div id="message" class="notice" role="status" hidden></div>
<noscript><div class="notice error">This page needs JavaScript to fetch the status (or use GET /v1/admin/status).</div></noscript>
<main id="status" hidden>
  <h2>Desired configuration</h2>
  <div id="desired"></div>
  <div id="rejected" class="notice error" hidden></div>
  <h2>Gateways <span id="updated" class="muted"></span></h2>
  <table>
    <thead><tr><th>Gateway</th><th>State</th><th>Last heartbeat</th><th>Desired</th><th>Applied</th><th>In sync</th><th>Last error</th><th>Token refused</th><th>Token expires</th><th>Version</th></tr></thead>
    <tbody id="gateways"></tbody>
  </table>
  <p id="empty" class="muted" hidden>No gateway yet: create a token with <code>portico token create --gateway NAME</code>.</p>
  <h2>Traffic <span id="traffic-window" class="muted"></span></h2>
  <div id="traffic-message" class="notice" role="status" hidden></div>
  <p id="traffic-fleet"></p>
  <p class="muted">Rates are over the seconds the heartbeats cover; p50 and p99 are the heartbeats' quantiles weighted by their requests; worst p99 is the largest of any one heartbeat.</p>
  <h3>Per gateway</h3>
  <table>
    <thead><tr><th>Gateway</th><th class="num">Requests</th><th class="num">Rate</th><th class="num">4xx</th><th class="num">5xx</th><th class="num">p50</th><th class="num">p99</th><th class="num">Worst p99</th><th class="num">Covered</th></tr></thead>
    <tbody id="traffic-gateways"></tbody>
  </table>
  <h3>Per API</h3>
  <table>
    <thead><tr><th>API</th><th class="num">Requests</th><th class="num">Rate</th><th class="num">4xx</th><th class="num">5xx</th><th class="num">p50</th><th class="num">p99</th><th class="num">Worst p99</th><th class="num">Gateways</th></tr></thead>
    <tbody id="traffic-apis"></tbody>
  </table>
  <p id="traffic-empty" class="muted" hidden>No traffic reported in the window.</p>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

/**
 * The page's Content-Security-Policy: nothing by default, exactly the inline script and style by
 * their sha256, requests only to this origin, no framing, no form submission, no base URL.
 */
const ADMIN_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src 'none'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** The headers the page is served with (CSP, no sniffing, no referrer, no framing, no caching). */
const ADMIN_PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": ADMIN_PAGE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};

/** The web page as a response (for `GET /` and `GET /admin`). */
export function adminPageResponse(): Response {
  return new Response(HTML, { status: 200, headers: ADMIN_PAGE_HEADERS });
}
