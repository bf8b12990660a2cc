import { Hono } from "hono";
import { PROMETHEUS_CONTENT_TYPE, type PrometheusReader } from "../observability/prometheus.ts";
import type { PipelineHolder } from "../pipeline/pipeline.ts";
import type { RedisConnection } from "../state/redis.ts";

/** What the management app reports on. */
export interface ManagementDeps {
  readonly holder: PipelineHolder;
  /** The Prometheus reader of the gateway's meter; `/metrics` is not served without one (`telemetry.metrics.prometheus.enabled: false`). */
  readonly prometheus: PrometheusReader | undefined;
  /** The gateway's Redis, when the settings name one: `/readyz` says whether it is up or degraded. */
  readonly redis?: RedisConnection;
}

/**
 * The Hono application of the management port (never the traffic port): liveness, readiness
 * (a configuration is live) and Prometheus metrics (OpenTelemetry's Prometheus exporter).
 * With Redis, `/readyz` adds `redis: "up"` or `"degraded"`; a degraded Redis does not make the
 * gateway unready (it still serves: each policy's `redis-failure` says how), so a load balancer
 * does not take every replica out at once when Redis goes down.
 */
export function managementApp({ holder, prometheus, redis }: ManagementDeps): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const pipeline = holder.current;
    return pipeline
      ? c.json({
        status: "ready",
        revision: pipeline.appliedRevision,
        local: pipeline.revision,
        hash: pipeline.hash,
        ...(redis ? { redis: redis.up ? "up" : "degraded" } : {}),
      })
      : c.json({ status: "not ready", reason: "no configuration has been applied yet" }, 503);
  });
  if (prometheus) {
    app.get("/metrics", async () => new Response(await prometheus.text(), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } }));
  }
  return app;
}
