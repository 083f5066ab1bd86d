import { createRoute, z } from "@hono/zod-openapi";
import { unwrap } from "../errors";
import { runSummarySchema, runViewSchema } from "../squad/runs";
import { getWorkflow, workflowDb } from "../workflow/store";
import { workflowSchema } from "../workflow/definition";
import { newRouter } from "./factory";
import { bearer, commonErrors, json, jsonBody, notFound, pageOf, pageQuery } from "./openapi-common";
import { idParam, stub, tags } from "./squad-common";

/** Workflow runs through a squad: start one, list them, read one with its steps. Mounted inside squadsRouter, under its scopes. */
export const squadRunsRouter = newRouter();

const runParam = idParam.extend({
  runId: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "runId", in: "path" } }),
});

squadRunsRouter.openapi(
  createRoute({
    method: "post",
    path: "/{id}/runs",
    tags,
    security: bearer,
    summary: "Run a stored workflow through this squad (202)",
    request: {
      params: idParam,
      body: jsonBody(
        z
          .object({
            workflow: workflowSchema.shape.name,
            version: z.number().int().min(1).optional().openapi({ description: "Default: the latest version." }),
            input: z.unknown(),
            priority: z.number().int().min(0).max(9).default(5),
          })
          .strict()
          .openapi("RunRequest"),
      ),
    },
    responses: { 202: json(z.object({ runId: z.string(), workflow: z.string(), version: z.number().int() }).openapi("RunAccepted"), "Started"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const row = await getWorkflow(workflowDb(c.env.DB), body.workflow, body.version);
    const workflow = workflowSchema.parse(JSON.parse(row.definition));
    const { runId } = unwrap(
      await stub(c, id).startRun({
        workflow,
        name: row.name,
        version: row.version,
        input: body.input ?? null,
        priority: body.priority,
        actor: c.get("principal").id,
        traceId: c.get("traceId"),
      }),
    );
    c.header("location", `/api/v1/squads/${id}/runs/${runId}`);
    return c.json({ runId, workflow: row.name, version: row.version }, 202);
  },
);

squadRunsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}/runs",
    tags,
    security: bearer,
    summary: "List workflow runs, newest first",
    request: { params: idParam, query: pageQuery },
    responses: { 200: json(pageOf(runSummarySchema, "RunPage"), "A page of runs"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { limit, cursor } = c.req.valid("query");
    return c.json(unwrap(await stub(c, id).listRuns({ limit, ...(cursor ? { cursor } : {}) })), 200);
  },
);

squadRunsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}/runs/{runId}",
    tags,
    security: bearer,
    summary: "Get a run with each step's status, output, attempts and timings",
    request: { params: runParam },
    responses: { 200: json(runViewSchema, "The run"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const { id, runId } = c.req.valid("param");
    return c.json(unwrap(await stub(c, id).getRun(runId)), 200);
  },
);
