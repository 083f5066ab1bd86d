import { createRoute, z } from "@hono/zod-openapi";
import { newRouter } from "./factory";
import { publicRoute } from "./middleware/access";
import { json } from "./openapi-common";

const healthSchema = z
  .object({
    status: z.enum(["ok", "degraded"]),
    version: z.string(),
    checks: z.object({ d1: z.object({ ok: z.boolean(), latencyMs: z.number(), error: z.string().optional() }) }),
  })
  .openapi("Health");

export const healthRouter = newRouter();

healthRouter.openapi(
  createRoute({
    method: "get",
    path: "/health",
    tags: ["system"],
    middleware: publicRoute,
    summary: "Liveness and a D1 round trip (no auth)",
    responses: { 200: json(healthSchema, "Healthy"), 503: json(healthSchema, "A dependency is failing") },
  }),
  async (c) => {
    const started = performance.now();
    let d1: { ok: boolean; latencyMs: number; error?: string };
    try {
      await c.env.DB.prepare("select 1").first();
      d1 = { ok: true, latencyMs: performance.now() - started };
    } catch (err) {
      d1 = { ok: false, latencyMs: performance.now() - started, error: "D1 query failed" };
      console.error("health: D1 check failed", String(err));
    }
    const body = { status: d1.ok ? ("ok" as const) : ("degraded" as const), version: c.env.BUILD_VERSION ?? "dev", checks: { d1 } };
    return d1.ok ? c.json(body, 200) : c.json(body, 503);
  },
);
