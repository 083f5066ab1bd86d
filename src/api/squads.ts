import { createRoute, z } from "@hono/zod-openapi";
import { unwrap } from "../errors";
import { squadConfigSchema } from "../squad/config";
import { createSquad, findSquad, listSquads, reconfigureSquad, removeSquad, squadView } from "../squad/directory";
import { TASK_STATUSES, taskRequestSchema, taskViewSchema } from "../squad/task";
import { newRouter } from "./factory";
import { requireReadOrRun } from "./middleware/auth";
import { viaStreamToken } from "./middleware/access";
import { bearer, commonErrors, conflict, json, jsonBody, notFound, pageOf, pageQuery } from "./openapi-common";
import { idParam, stub, tags } from "./squad-common";
import { squadRunsRouter } from "./squad-runs";
import { squadStreamsRouter } from "./squad-streams";

/**
 * Squads, their tasks, workflow runs and event streams.
 * Scopes: squads:run to create/change/delete squads, submit or cancel tasks and start runs;
 * agents:read to read them, list events, take a stream token and open the stream.
 */
export const squadsRouter = newRouter();

/** Taking a token to read a stream (`POST …/squads/{id}/stream-token`) is a read, though it is a POST. */
const squadScopes = requireReadOrRun(/\/squads\/[^/]+\/stream-token$/);

// A browser stream upgrade carrying ?token= instead of a bearer header: the squad verifies the token itself.
squadsRouter.use("*", async (c, next) => (viaStreamToken(c) ? next() : squadScopes(c, next)));

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

const taskParam = idParam.extend({
  taskId: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "taskId", in: "path" } }),
});

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

// Events, streams and workflow runs live in their own files; mounted here, after the scope check above.
squadsRouter.route("/", squadStreamsRouter);
squadsRouter.route("/", squadRunsRouter);
