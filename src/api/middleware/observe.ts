import { createMiddleware } from "hono/factory";
import { matchedRoutes } from "hono/route";
import type { Context } from "hono";
import type { AppEnv } from "../../env";
import { withTrace } from "../../observability/context";
import { analyticsPoint, countMetric, observeMetric } from "../../observability/record";
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from "../../observability/trace";
import { setResponseHeaders } from "./response-headers";

/** The route template that answered (`/api/v1/agents/:name`), never the raw path, so series stay few. */
function routeTemplate(c: Context<AppEnv>): string {
  const handler = matchedRoutes(c).findLast((r) => r.method !== "ALL");
  return handler?.path ?? (c.req.path.startsWith("/api/") ? "unmatched" : "static");
}

/**
 * Every request gets a request id (Cloudflare's ray id, else a new one) and joins the caller's W3C trace
 * (`traceparent`) or starts one; the work it causes runs inside that trace and the answer carries
 * `x-request-id` and `traceparent` with our span. Counts the request after it is answered.
 */
export const observe = createMiddleware<AppEnv>(async (c, next) => {
  const requestId = c.req.header("cf-ray") ?? crypto.randomUUID();
  c.set("requestId", requestId);
  const parent = parseTraceparent(c.req.header("traceparent"));
  const trace = { traceId: parent?.traceId ?? newTraceId(), spanId: newSpanId(), sampled: parent?.sampled ?? true };
  c.set("traceId", trace.traceId);
  const started = performance.now();
  await withTrace(trace, () => next());
  const seconds = (performance.now() - started) / 1000;
  setResponseHeaders(c, { traceparent: formatTraceparent(trace), "x-request-id": requestId });
  const route = routeTemplate(c);
  const status = c.res.status;
  countMetric("tdev_http_requests_total", { route, method: c.req.method, status: String(status) });
  observeMetric("tdev_http_request_duration_seconds", { route }, seconds);
  analyticsPoint("request", [route, c.req.method, String(status), trace.traceId], [seconds, status]);
});
