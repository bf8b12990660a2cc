import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type GatewayProcess, ROOT, startGatewayProcess } from "../../test/harness.ts";
import { type PrometheusServer, promtoolCheckMetrics, startPrometheus } from "../../test/prometheus.ts";
import { startUpstream, type Upstream } from "../../test/upstream.ts";

// `/metrics` of a real gateway process as Prometheus itself reads it: Debian's promtool lints a
// scrape, and a real Prometheus server scrapes the management port and answers queries about it.
describe("/metrics with Prometheus (promtool and a real server)", { timeout: 120_000 }, () => {
  let upstream: Upstream;
  let gw: GatewayProcess;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      req.resume();
      res.end("ok");
    });
    gw = await startGatewayProcess({
      config: `
apis:
  - name: orders
    path: /orders
    backend: b
    policies:
      inbound: [ { policy: set-header, with: { name: x-tenant, value: acme } } ]
  - name: broken
    path: /broken
    backend: b
    policies:
      inbound: [ { policy: trap } ]
backends:
  b: { urls: ["${upstream.url}"] }
policies:
  trap: { module: ${JSON.stringify(`${ROOT}policies-wasm/dist/fixtures/trap.wasm`)} }
`,
    });
    for (const path of ["/orders/1", "/orders/2", "/orders/3", "/broken/x"]) await (await fetch(gw.url + path)).body?.cancel();
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  const scrape = () => fetch(`http://127.0.0.1:${gw.managementPort}/metrics`);

  it("serves Prometheus text that promtool check metrics passes without a lint problem", async () => {
    const res = await scrape();
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    const check = promtoolCheckMetrics(text);
    assert.equal(check.code, 0, `promtool check metrics:\n${check.output}\n--- scraped:\n${text}`);
    assert.equal(check.output.trim(), "", "no lint problem");
    // What the scrape holds: policy accounting, configuration, build and process metrics.
    assert.match(text, /^portico_policy_calls_total\{policy="set-header"\} 3$/m);
    assert.match(text, /^portico_policy_failures_total\{policy="trap",kind="trap"\} 1$/m);
    assert.match(text, /^portico_policy_duration_seconds_bucket\{policy="set-header",le="\+Inf"\} 3$/m);
    assert.match(text, /^portico_policy_fuel_total\{policy="set-header"\} [1-9]\d*$/m);
    assert.match(text, /^portico_policy_memory_pages\{policy="set-header"\} [1-9]\d*$/m);
    assert.match(text, /^portico_build_info\{version="[^"]+",runtime="(bun|deno|node)",runtime_version="[^"]+"\} 1$/m);
    assert.match(text, /^process_cpu_time_total\{cpu_mode="user"\} \d/m);
    assert.match(text, /^process_memory_usage [1-9]\d*$/m);
    assert.match(text, /^target_info\{service_name="[^"]+"/m);
    assert.match(text, /^http_server_request_duration_count\{http_request_method="GET",http_response_status_code="200",api="orders",backend="b"\} 3$/m);
    assert.match(text, /^http_server_active_requests 0$/m);
  });

  it("leaves the process metrics out with telemetry.metrics.system.enabled: false", async () => {
    const quiet = await startGatewayProcess({ config: `apis: []\nbackends: {}\n`, env: { PORTICO_TELEMETRY_METRICS_SYSTEM_ENABLED: "false" } });
    try {
      const text = await (await fetch(`http://127.0.0.1:${quiet.managementPort}/metrics`)).text();
      assert.match(text, /^portico_config_applied_total 1$/m);
      for (const name of ["process_cpu_time_total", "process_memory_usage", "portico_eventloop_delay_seconds"]) assert.ok(!text.includes(name), name);
    } finally {
      await quiet.stop();
    }
  });

  describe("a real Prometheus server scraping the management port", () => {
    let prometheus: PrometheusServer;

    before(async () => {
      prometheus = await startPrometheus([`127.0.0.1:${gw.managementPort}`]);
    });

    after(async () => {
      await prometheus?.stop();
    });

    it("scrapes the gateway and answers queries on its metrics through the HTTP API", async () => {
      const up = await prometheus.waitForSumBy("up", "job", (sums) => sums.get("portico") === 1);
      assert.equal(up.get("portico"), 1, "the target is up: Prometheus parsed the scrape");
      const applied = await prometheus.query('portico_config_applied_total{job="portico"}');
      assert.equal(applied.length, 1);
      assert.equal(applied[0]!.value, 1);
      assert.equal(applied[0]!.metric.instance, `127.0.0.1:${gw.managementPort}`);
    });

    it("reads a histogram by an attribute: policy call counts by policy", async () => {
      const counts = await prometheus.waitForSumBy("portico_policy_duration_seconds_count", "policy", (sums) => sums.size >= 2);
      assert.deepEqual(Object.fromEntries(counts), { "set-header": 3, trap: 1 });
      const buckets = await prometheus.sumBy('portico_policy_duration_seconds_bucket{le="+Inf"}', "policy");
      assert.equal(buckets.get("set-header"), 3);
    });

    it("reads the request duration histogram by api", async () => {
      const counts = await prometheus.waitForSumBy("http_server_request_duration_count", "api", (sums) => sums.size >= 2);
      assert.deepEqual(Object.fromEntries(counts), { orders: 3, broken: 1 });
      const ok = await prometheus.sumBy('http_server_request_duration_bucket{le="+Inf",http_response_status_code="200"}', "api");
      assert.deepEqual(Object.fromEntries(ok), { orders: 3 });
      const gateway = await prometheus.sumBy("portico_gateway_duration_seconds_count", "api");
      assert.equal(gateway.get("orders"), 3);
    });
  });
});
