import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveSettings, type SettingKey, type Settings } from "../../config/schema/settings.ts";
import { resolveOtlpTarget } from "./telemetry.ts";

function settingsOf(file: Record<string, unknown>): { settings: Settings; given: ReadonlySet<SettingKey> } {
  const result = resolveSettings(file, {});
  if (!result.ok) assert.fail(JSON.stringify(result.problems));
  return { settings: result.settings, given: result.given };
}

describe("resolveOtlpTarget", () => {
  it("exports nothing without an endpoint in the settings or the environment", () => {
    const { settings, given } = settingsOf({});
    assert.deepEqual(resolveOtlpTarget(settings, {}, given), { problems: [] });
  });

  it("appends the signal paths to the setting's base URL, which wins over OTEL_EXPORTER_OTLP_*", () => {
    const { settings, given } = settingsOf({ "telemetry.otlp.endpoint": "http://collector:4318/", "telemetry.otlp.headers": "api-key=s3cret" });
    const { target } = resolveOtlpTarget(settings, {
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://other:4318",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://other:4318/t",
      OTEL_EXPORTER_OTLP_HEADERS: "api-key=from-env,tenant=t1",
    }, given);
    assert.deepEqual(target, {
      tracesUrl: "http://collector:4318/v1/traces",
      metricsUrl: "http://collector:4318/v1/metrics",
      logsUrl: "http://collector:4318/v1/logs",
      protocol: "http/protobuf",
      headers: { "api-key": "s3cret", tenant: "t1" },
      timeoutMs: 10_000,
    });
  });

  it("takes the standard variables when the settings leave them unset: base, per-signal URLs, protocol, timeout", () => {
    const { settings, given } = settingsOf({});
    const { target } = resolveOtlpTarget(settings, {
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://metrics:9090/api/v1/otlp/v1/metrics",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_TIMEOUT: "2500",
    }, given);
    assert.equal(target?.tracesUrl, "http://collector:4318/v1/traces");
    assert.equal(target?.metricsUrl, "http://metrics:9090/api/v1/otlp/v1/metrics");
    assert.equal(target?.protocol, "http/json");
    assert.equal(target?.timeoutMs, 2500);
  });

  it("refuses gRPC and a bad timeout, and an explicit enabled: true without an endpoint", () => {
    const { settings, given } = settingsOf({});
    assert.deepEqual(
      resolveOtlpTarget(
        settings,
        { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4317", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc", OTEL_EXPORTER_OTLP_TIMEOUT: "soon" },
        given,
      ).problems,
      [
        'OTEL_EXPORTER_OTLP_PROTOCOL: Portico exports OTLP over HTTP only: http/protobuf or http/json (got "grpc")',
        'OTEL_EXPORTER_OTLP_TIMEOUT: expected milliseconds (got "soon")',
      ],
    );
    const enabled = settingsOf({ "observability.opentelemetry.enabled": true });
    assert.match(resolveOtlpTarget(enabled.settings, {}, enabled.given).problems[0]!, /^telemetry\.otlp\.enabled: true, but no endpoint/);
  });

  it("is off with telemetry.otlp.enabled: false or OTEL_SDK_DISABLED=true, whatever the endpoint", () => {
    const off = settingsOf({ "telemetry.otlp.endpoint": "http://c:4318", "telemetry.otlp.enabled": false });
    assert.equal(resolveOtlpTarget(off.settings, {}, off.given).target, undefined);
    const on = settingsOf({ "telemetry.otlp.endpoint": "http://c:4318" });
    assert.equal(resolveOtlpTarget(on.settings, { OTEL_SDK_DISABLED: "true" }, on.given).target, undefined);
  });
});
