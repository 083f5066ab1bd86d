import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { AppError, unwrap } from "../errors";
import type { AppEnv } from "../env";
import { squadConfigSchema } from "../squad/config";
import { createSquad, findSquad, listSquads, reconfigureSquad, removeSquad, squadStub, squadView } from "../squad/directory";
import { STREAM_PRINCIPAL_HEADER, STREAM_TOKEN_TTL_SECONDS } from "../squad/stream-token";
import { TASK_STATUSES, taskRequestSchema, taskViewSchema } from "../squad/task";
import { REPLAY_MAX_AGE_MS, REPLAY_MAX_EVENTS } from "../squad/events";
import { runSummarySchema, runViewSchema } from "../squad/runs";
import { getWorkflow, workflowDb } from "../workflow/store";
import { workflowSchema } from "../workflow/definition";
import { newRouter } from "./factory";
import { requireScope } from "./middleware/auth";
import { streamTokenRoute, viaStreamToken } from "./middleware/access";
import { bearer, commonErrors, conflict, json, jsonBody, notFound, pageOf, pageQuery } from "./openapi-common";

/**
 * Squads, their tasks, workflow runs and event streams.
 * Scopes: squads:run to create/change/delete squads, submit or cancel tasks and start runs;
 * agents:read to read them, list events, take a stream token and open the stream.
 */
export const squadsRouter = newRouter();

squadsRouter.use("*", async (c, next) => {
  // A browser stream upgrade carrying ?token= instead of a bearer header: the squad verifies the token itself.
  if (viaStreamToken(c)) return next();
  const readOnly = c.req.method === "GET" || c.req.path.endsWith("/stream-token");
  return requireScope(readOnly ? "agents:read" : "squads:run")(c, next);
});

const tags = ["squads"];

const squadSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    members: z.array(z.object({ agent: z.string(), channel: z.string().optional(), version: z.string().optional(), weight: z.number() })),
    policy: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
    updatedAt: z.string(),
    createdBy: z.string(),
  })
  .openapi("Squad");

const squadDetailSchema = squadSchema
  .extend({
    stats: z.object({
      tasks: z.record(z.string(), z.number().int()),
      lastSeq: z.number().int(),
      members: z.array(z.object({ member: z.string(), inFlight: z.number().int(), breaker: z.enum(["closed", "open"]) })),
    }),
  })
  .openapi("SquadDetail");

const idParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" }, description: "Squad id (sqd_…)" }),
});
const taskParam = idParam.extend({
  taskId: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "taskId", in: "path" } }),
});
const runParam = idParam.extend({
  runId: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "runId", in: "path" } }),
});

const eventSchema = z.object({ type: z.string(), squadId: z.string(), seq: z.number().int(), ts: z.string(), data: z.unknown() }).openapi("SquadEvent");

const stub = (c: Context<AppEnv>, id: string) => squadStub(c.env, id);

squadsRouter.openapi(
  createRoute({
    method: "post",
    path: "/",
    tags,
    security: bearer,
    summary: "Create a squad",
    request: {
      body: jsonBody(squadConfigSchema),
      headers: z.object({
        "idempotency-key": z
          .string()
          .min(1)
          .max(200)
          .optional()
          .openapi({ description: "Retrying with the same key returns the squad the first attempt created (or completes it)." }),
      }),
    },
    responses: { 201: json(squadSchema, "Created"), 200: json(squadSchema, "Already created under this Idempotency-Key"), ...commonErrors },
  }),
  async (c) => {
    const { row, created } = await createSquad(c.env, c.req.valid("json"), c.get("principal").id, c.req.valid("header")["idempotency-key"]);
    c.header("location", `/api/v1/squads/${row.id}`);
    return c.json(squadView(row), created ? 201 : 200);
  },
);

squadsRouter.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags,
    security: bearer,
    summary: "List squads",
    request: { query: pageQuery },
    responses: { 200: json(pageOf(squadSchema, "SquadPage"), "A page of squads"), ...commonErrors },
  }),
  async (c) => c.json(await listSquads(c.env.DB, c.req.valid("query")), 200),
);

squadsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}",
    tags,
    security: bearer,
    summary: "Get a squad with live task counts and member breakers",
    request: { params: idParam },
    responses: { 200: json(squadDetailSchema, "The squad"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const row = await findSquad(c.env.DB, id);
    const { squadId: _squadId, ...stats } = unwrap(await stub(c, id).stats());
    return c.json({ ...squadView(row), stats }, 200);
  },
);

squadsRouter.openapi(
  createRoute({
    method: "put",
    path: "/{id}",
    tags,
    security: bearer,
    summary: "Replace a squad's name, members and policy (set policy.paused to pause dispatch)",
    request: { params: idParam, body: jsonBody(squadConfigSchema) },
    responses: { 200: json(squadSchema, "Updated"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    return c.json(squadView(await reconfigureSquad(c.env, c.req.valid("param").id, c.req.valid("json"))), 200);
  },
);

squadsRouter.openapi(
  createRoute({
    method: "delete",
    path: "/{id}",
    tags,
    security: bearer,
    summary: "Delete a squad: queued tasks are cancelled and streams closed",
    request: { params: idParam },
    responses: { 204: { description: "Deleted" }, ...commonErrors, ...notFound },
  }),
  async (c) => {
    await removeSquad(c.env, c.req.valid("param").id);
    return c.body(null, 204);
  },
);

// ---- tasks

squadsRouter.openapi(
  createRoute({
    method: "post",
    path: "/{id}/tasks",
    tags,
    security: bearer,
    summary: "Queue a task (202); an Idempotency-Key header makes retries return the same task",
    request: {
      params: idParam,
      headers: z.object({ "idempotency-key": z.string().min(1).max(200).optional() }),
      body: jsonBody(taskRequestSchema),
    },
    responses: { 202: json(z.object({ taskId: z.string(), duplicate: z.boolean() }).openapi("TaskAccepted"), "Queued"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const key = c.req.valid("header")["idempotency-key"];
    const result = unwrap(await stub(c, id).submitTask(c.req.valid("json"), { actor: c.get("principal").id, traceId: c.get("traceId"), ...(key ? { idempotencyKey: key } : {}) }));
    c.header("location", `/api/v1/squads/${id}/tasks/${result.taskId}`);
    return c.json(result, 202);
  },
);

squadsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}/tasks",
    tags,
    security: bearer,
    summary: "List tasks, newest first",
    request: { params: idParam, query: pageQuery.extend({ status: z.enum(TASK_STATUSES).optional() }) },
    responses: { 200: json(pageOf(taskViewSchema, "TaskPage"), "A page of tasks"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { status, limit, cursor } = c.req.valid("query");
    return c.json(unwrap(await stub(c, id).listTasks({ limit, ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) })), 200);
  },
);

squadsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}/tasks/{taskId}",
    tags,
    security: bearer,
    summary: "Get a task: status, attempts, member, output or error, consensus answers",
    request: { params: taskParam },
    responses: { 200: json(taskViewSchema, "The task"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const { id, taskId } = c.req.valid("param");
    return c.json(unwrap(await stub(c, id).getTask(taskId)), 200);
  },
);

squadsRouter.openapi(
  createRoute({
    method: "delete",
    path: "/{id}/tasks/{taskId}",
    tags,
    security: bearer,
    summary: "Cancel a queued task (409 if it is already running or finished)",
    request: { params: taskParam },
    responses: { 200: json(taskViewSchema, "Cancelled"), ...commonErrors, ...notFound, ...conflict },
  }),
  async (c) => {
    const { id, taskId } = c.req.valid("param");
    return c.json(unwrap(await stub(c, id).cancelTask(taskId)), 200);
  },
);

// ---- events and streams

squadsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}/events",
    tags,
    security: bearer,
    summary: `Events after a seq (kept: the last ${REPLAY_MAX_EVENTS} events, at most ${REPLAY_MAX_AGE_MS / 3_600_000} h old)`,
    request: {
      params: idParam,
      query: z.object({
        since: z.coerce.number().int().min(0).default(0).openapi({ description: "Return events with seq greater than this." }),
        limit: z.coerce.number().int().min(1).max(REPLAY_MAX_EVENTS).default(100),
      }),
    },
    responses: {
      200: json(
        z.object({ items: z.array(eventSchema), nextCursor: z.string().nullable(), oldestSeq: z.number().int().nullable(), lastSeq: z.number().int() }).openapi("SquadEventPage"),
        "Events in seq order; nextCursor is the since for the next page",
      ),
      ...commonErrors,
      ...notFound,
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { since, limit } = c.req.valid("query");
    return c.json(unwrap(await stub(c, id).events(since, limit)), 200);
  },
);

squadsRouter.openapi(
  createRoute({
    method: "post",
    path: "/{id}/stream-token",
    tags,
    security: bearer,
    summary: `A token for browsers to open the stream with ?token= (valid ${STREAM_TOKEN_TTL_SECONDS} s, this squad only)`,
    request: { params: idParam },
    responses: { 201: json(z.object({ token: z.string(), expiresAt: z.string(), url: z.string() }).openapi("StreamToken"), "Issued"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const issued = unwrap(await stub(c, id).streamToken(c.get("principal").id));
    return c.json({ ...issued, url: `/api/v1/squads/${id}/stream?token=${encodeURIComponent(issued.token)}` }, 201);
  },
);

squadsRouter.openAPIRegistry.registerPath({
  method: "get",
  path: "/{id}/stream",
  tags,
  security: bearer,
  summary: "WebSocket stream of squad events ({type, squadId, seq, ts, data}); ?since=seq replays missed events; ?token= instead of a bearer header",
  request: {
    params: idParam,
    query: z.object({ since: z.string().optional(), token: z.string().optional() }),
  },
  responses: { 101: { description: "Switching protocols" }, ...commonErrors, ...notFound },
});

squadsRouter.get("/:id/stream", streamTokenRoute, async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new AppError("bad_request", "Open the stream with a WebSocket upgrade (Upgrade: websocket).");
  const principal = c.get("principal") as AppEnv["Variables"]["principal"] | undefined;
  const url = new URL(c.req.url);
  const forward = new URL(url.pathname, url.origin);
  for (const key of ["since", "token"]) {
    const value = url.searchParams.get(key);
    if (value !== null) forward.searchParams.set(key, value);
  }
  // A fresh request: only the upgrade and, after bearer auth here, the principal reach the squad.
  const headers = new Headers({ upgrade: "websocket" });
  if (principal) headers.set(STREAM_PRINCIPAL_HEADER, principal.id);
  return stub(c, c.req.param("id")).fetch(new Request(forward, { headers }));
});

// ---- workflow runs

squadsRouter.openapi(
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

squadsRouter.openapi(
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

squadsRouter.openapi(
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
