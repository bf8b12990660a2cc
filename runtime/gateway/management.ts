import { Hono } from "hono";
import type { GatewayMetrics } from "../observability/metrics.ts";
import type { PipelineHolder } from "../pipeline/pipeline.ts";

/** What the management app reports on. */
export interface ManagementDeps {
  readonly holder: PipelineHolder;
  readonly metrics: GatewayMetrics;
  readonly prometheus: boolean;
}

/**
 * The Hono application of the management port (never the traffic port): liveness, readiness
 * (a configuration is live) and Prometheus metrics.
 */
export function managementApp({ holder, metrics, prometheus }: ManagementDeps): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const pipeline = holder.current;
    return pipeline
      ? c.json({ status: "ready", revision: pipeline.revision, hash: pipeline.hash })
      : c.json({ status: "not ready", reason: "no configuration has been applied yet" }, 503);
  });
  if (prometheus) {
    app.get("/metrics", () => new Response(metrics.render(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } }));
  }
  return app;
}
