import { Hono } from "hono";
import { PROMETHEUS_CONTENT_TYPE, type PrometheusReader } from "../observability/prometheus.ts";
import type { PipelineHolder } from "../pipeline/pipeline.ts";

/** What the management app reports on. */
export interface ManagementDeps {
  readonly holder: PipelineHolder;
  /** The Prometheus reader of the gateway's meter; `/metrics` is not served without one (`telemetry.metrics.prometheus.enabled: false`). */
  readonly prometheus: PrometheusReader | undefined;
}

/**
 * The Hono application of the management port (never the traffic port): liveness, readiness
 * (a configuration is live) and Prometheus metrics (OpenTelemetry's Prometheus exporter).
 */
export function managementApp({ holder, prometheus }: ManagementDeps): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const pipeline = holder.current;
    return pipeline
      ? c.json({ status: "ready", revision: pipeline.appliedRevision, local: pipeline.revision, hash: pipeline.hash })
      : c.json({ status: "not ready", reason: "no configuration has been applied yet" }, 503);
  });
  if (prometheus) {
    app.get("/metrics", async () => new Response(await prometheus.text(), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } }));
  }
  return app;
}
