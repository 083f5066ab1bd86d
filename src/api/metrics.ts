import { createRoute, z } from "@hono/zod-openapi";
import { derivedMetrics } from "../observability/derived";
import { histogramQuantile, metricsJson, renderPrometheus, type MetricsBatch } from "../observability/metrics";
import { readMetrics } from "../observability/record";
import { newRouter } from "./factory";
import { requireScope } from "./middleware/auth";
import { bearer, commonErrors } from "./openapi-common";

export const metricsRouter = newRouter();
metricsRouter.use("*", requireScope("agents:read"));

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const seriesSchema = z
  .object({
    name: z.string(),
    type: z.enum(["counter", "gauge", "histogram"]),
    labels: z.record(z.string(), z.string()),
    value: z.number().optional(),
    count: z.number().optional(),
    sum: z.number().optional(),
    buckets: z.record(z.string(), z.number()).optional().openapi({ description: "Cumulative counts by upper bound (seconds), as Prometheus `le`." }),
  })
  .openapi("MetricSeries");

const metricsSchema = z
  .object({
    series: z.array(seriesSchema),
    summary: z.object({
      requests: z.number().int(),
      errorRate: z.number().nullable().openapi({ description: "Share of requests answered 5xx." }),
      p50Seconds: z.number().nullable(),
      p95Seconds: z.number().nullable(),
    }),
  })
  .openapi("Metrics");

/** Request totals the dashboard's overview shows, computed from the same series. */
function summary(all: MetricsBatch) {
  const series = Object.values(all);
  const requests = series.filter((s) => s.name === "tdev_http_requests_total");
  const total = requests.reduce((t, s) => t + s.value, 0);
  const errors = requests.filter((s) => (s.labels.status ?? "").startsWith("5")).reduce((t, s) => t + s.value, 0);
  const durations = series.filter((s) => s.name === "tdev_http_request_duration_seconds");
  return {
    requests: total,
    errorRate: total ? errors / total : null,
    p50Seconds: histogramQuantile("tdev_http_request_duration_seconds", durations, 0.5),
    p95Seconds: histogramQuantile("tdev_http_request_duration_seconds", durations, 0.95),
  };
}

metricsRouter.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags: ["system"],
    security: bearer,
    summary: "Metrics in the Prometheus text format (or JSON with Accept: application/json)",
    description:
      "Counters are global (merged from every isolate, kept across restarts); a request's own count lands shortly after it is answered. " +
      "Dead letters, evolution candidates, promotions and rollbacks are read from their records at scrape time.",
    responses: {
      200: {
        description: "Every series",
        content: { "text/plain": { schema: z.string().openapi({ description: "Prometheus exposition format 0.0.4" }) }, "application/json": { schema: metricsSchema } },
      },
      ...commonErrors,
    },
  }),
  async (c) => {
    const [counted, derived] = await Promise.all([readMetrics(c.env.METRICS), derivedMetrics(c.env.DB)]);
    const all = { ...counted, ...derived };
    if ((c.req.header("accept") ?? "").includes("application/json")) return c.json({ series: metricsJson(all), summary: summary(all) }, 200);
    return c.text(renderPrometheus(all), 200, { "content-type": PROMETHEUS_CONTENT_TYPE });
  },
);
