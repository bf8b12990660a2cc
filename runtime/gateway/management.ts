import { Hono } from "hono";
import { PROMETHEUS_CONTENT_TYPE, type PrometheusReader } from "../observability/prometheus.ts";
import type { Pipeline, PipelineHolder } from "../pipeline/pipeline.ts";
import type { MemberHealth } from "../pipeline/health.ts";
import type { RedisConnection } from "../state/redis.ts";

/** What the management app reports on. */
export interface ManagementDeps {
  readonly holder: PipelineHolder;
  /** The Prometheus reader of the gateway's meter; `/metrics` is not served without one (`telemetry.metrics.prometheus.enabled: false`). */
  readonly prometheus: PrometheusReader | undefined;
  /** The gateway's Redis, when the settings name one: `/readyz` says whether it is up or degraded. */
  readonly redis?: RedisConnection;
}

/** A pool member as `/readyz` lists it. */
interface MemberStatus {
  readonly url: string;
  /** "healthy", "unhealthy" (its active checks fail) or "ejected" (passive ejection). */
  readonly health: "healthy" | "unhealthy" | "ejected";
  /** What its last active check saw (a status, "timeout" or "unreachable"); absent without checks. */
  readonly check?: string;
}

/** Each backend of the live configuration with its members' health, in configuration order. */
function backendHealth(holder: PipelineHolder, pipeline: Pipeline): Record<string, MemberStatus[]> {
  const byKey = new Map<string, MemberHealth>();
  for (const m of holder.health.all()) byKey.set(`${m.backend} ${m.url}`, m);
  const backends: Record<string, MemberStatus[]> = {};
  for (const [name, spec] of pipeline.snapshot.backends) {
    backends[name] = spec.urls.map((url) => {
      const m = byKey.get(`${name} ${url}`);
      const health = !m || m.up ? "healthy" : m.checkedUp ? "ejected" : "unhealthy";
      return m?.lastCheck === undefined ? { url, health } : { url, health, check: m.lastCheck };
    });
  }
  return backends;
}

/**
 * The Hono application of the management port (never the traffic port): liveness, readiness
 * (a configuration is live) and Prometheus metrics (OpenTelemetry's Prometheus exporter).
 * With Redis, `/readyz` adds `redis: "up"` or `"degraded"`; a degraded Redis does not make the
 * gateway unready (it still serves: each policy's `redis-failure` says how), so a load balancer
 * does not take every replica out at once when Redis goes down. `backends` lists each backend's
 * members and their health (docs/backends.md); for the same reason an unhealthy backend never
 * makes the gateway unready.
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
        backends: backendHealth(holder, pipeline),
      })
      : c.json({ status: "not ready", reason: "no configuration has been applied yet" }, 503);
  });
  if (prometheus) {
    app.get("/metrics", async () => new Response(await prometheus.text(), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } }));
  }
  return app;
}
