import { createRoute, z } from "@hono/zod-openapi";
import { getRun, listRuns, runViewSchema as runSchema } from "../runtime/runs";
import { runsSettled } from "../runtime/run-writer";
import { TRACE_ID_PATTERN } from "../observability/trace";
import { newRouter } from "./factory";
import { requireScope } from "./middleware/auth";
import { bearer, commonErrors, json, notFound, pageOf, pageQuery } from "./openapi-common";

export const runsRouter = newRouter();

runsRouter.use("*", requireScope("agents:read"));

runsRouter.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags: ["runs"],
    security: bearer,
    summary: "List runs, newest first",
    request: {
      query: pageQuery.extend({
        agent: z.string().max(63).optional().openapi({ description: "Only runs of this agent name" }),
        status: z.enum(["succeeded", "failed"]).optional(),
        traceId: z
          .string()
          .regex(TRACE_ID_PATTERN, "must be 32 lowercase hex digits")
          .optional()
          .openapi({ description: "Only runs of this W3C trace (from a traceparent header)" }),
      }),
    },
    responses: { 200: json(pageOf(runSchema, "RunPage"), "A page of runs"), ...commonErrors },
  }),
  async (c) => {
    await runsSettled(); // this isolate's records written behind their answers land first: a client lists its own runs
    return c.json(await listRuns(c.env.DB, c.req.valid("query")), 200);
  },
);

runsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}",
    tags: ["runs"],
    security: bearer,
    summary: "Get one run: who ran what, how it ended, timings, tokens, logs",
    request: {
      params: z.object({
        id: z
          .string()
          .min(1)
          .max(100)
          .openapi({ param: { name: "id", in: "path" } }),
      }),
    },
    responses: { 200: json(runSchema, "The run"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    await runsSettled();
    return c.json(await getRun(c.env.DB, c.req.valid("param").id), 200);
  },
);
