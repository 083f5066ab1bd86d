import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { publishEvent, SYSTEM_TOPIC } from "../messaging/events";
import { agentViewSchema as agentSchema } from "../registry/agent-view";
import { agentSpecSchema, refuseInternalHosts, semverString } from "../registry/spec";
import {
  agentDetail,
  agentView,
  deploymentHistory,
  findAgent,
  getVersion,
  listAgents,
  listVersions,
  moveChannel,
  registryDb,
  retireAgent,
  updateDescription,
} from "../registry/store";
import { createAgent, publishVersion } from "../registry/publish";
import { newRouter } from "./factory";
import { requireScope } from "./middleware/auth";
import { bearer, commonErrors, conflict, json, jsonBody, notFound, pageOf, pageQuery } from "./openapi-common";

const publishedSchema = z
  .object({ id: z.string(), name: z.string(), version: z.string(), sizeBytes: z.number().int(), contentHash: z.string(), created: z.boolean() })
  .openapi("Published");

const versionSummarySchema = z
  .object({
    id: z.string(),
    agentId: z.string(),
    name: z.string(),
    version: z.string(),
    sizeBytes: z.number().int(),
    contentHash: z.string(),
    createdAt: z.string(),
    createdBy: z.string(),
    score: z.number().nullable(),
    parents: z.array(z.string()).nullable(),
    operator: z.string().nullable(),
  })
  .openapi("AgentVersionSummary");

const versionDetailSchema = versionSummarySchema.extend({ spec: agentSpecSchema }).openapi("AgentVersion");

const agentDetailSchema = agentSchema.extend({ channels: z.record(z.string(), z.string()), latest: versionDetailSchema }).openapi("AgentDetail");

const idParam = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" }, description: "Agent id or name" }),
});
const versionParam = idParam.extend({ version: semverString.openapi({ param: { name: "version", in: "path" } }) });
const channelParam = idParam.extend({
  channel: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,31}$/, "must be a lowercase channel name")
    .openapi({ param: { name: "channel", in: "path" } }),
});

const updateSchema = z.union([agentSpecSchema, z.object({ description: z.string().max(2000) }).strict()]).openapi("AgentUpdate");

const tags = ["agents"];

export const agentsRouter = newRouter();

// Scopes per route (not router-wide middleware, which would also cover other routers' /agents/* paths).
const canRead = requireScope("agents:read");
const canWrite = requireScope("agents:write");

/** System events go out after the response; publishEvent never throws into the request. */
const announce = (c: Context<AppEnv>, type: string, data: Record<string, unknown>) =>
  c.executionCtx.waitUntil(publishEvent(c.env, SYSTEM_TOPIC, type, { ...data, actor: c.get("principal").id }));

const published = (r: Awaited<ReturnType<typeof createAgent>>) => ({
  id: r.agent.id,
  name: r.agent.name,
  version: r.version.version,
  sizeBytes: r.version.sizeBytes,
  contentHash: r.version.contentHash,
  created: r.created,
});

agentsRouter.openapi(
  createRoute({
    method: "post",
    path: "/",
    tags,
    security: bearer,
    middleware: canWrite,
    summary: "Register an agent with its first version",
    request: { body: jsonBody(agentSpecSchema) },
    responses: { 201: json(publishedSchema, "Created"), 200: json(publishedSchema, "Identical spec already registered"), ...commonErrors, ...conflict },
  }),
  async (c) => {
    const spec = c.req.valid("json");
    refuseInternalHosts(spec);
    const result = await createAgent(registryDb(c.env.DB), spec, c.get("principal").id);
    if (result.created) announce(c, "agent.published", published(result));
    return c.json(published(result), result.created ? 201 : 200);
  },
);

agentsRouter.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags,
    security: bearer,
    middleware: canRead,
    summary: "List agents",
    request: {
      query: pageQuery.extend({
        capability: z.string().max(64).optional(),
        kind: z.enum(["code", "llm", "bedrock-agent"]).optional(),
        q: z.string().max(100).optional().openapi({ description: "Substring of name or description" }),
      }),
    },
    responses: { 200: json(pageOf(agentSchema, "AgentPage"), "A page of agents"), ...commonErrors },
  }),
  async (c) => c.json(await listAgents(registryDb(c.env.DB), c.req.valid("query")), 200),
);

agentsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}",
    tags,
    security: bearer,
    middleware: canRead,
    summary: "Get an agent with its channels and latest version",
    request: { params: idParam },
    responses: { 200: json(agentDetailSchema, "The agent"), ...commonErrors, ...notFound },
  }),
  async (c) => c.json(await agentDetail(registryDb(c.env.DB), c.req.valid("param").id), 200),
);

agentsRouter.openapi(
  createRoute({
    method: "put",
    path: "/{id}",
    tags,
    security: bearer,
    middleware: canWrite,
    summary: "Publish a new version (a full spec) or change the description",
    request: { params: idParam, body: jsonBody(updateSchema) },
    responses: {
      201: json(publishedSchema, "Published"),
      200: json(z.union([publishedSchema, agentSchema]), "Unchanged or description updated"),
      ...commonErrors,
      ...notFound,
      ...conflict,
    },
  }),
  async (c) => {
    const db = registryDb(c.env.DB);
    const agent = await findAgent(db, c.req.valid("param").id);
    const body = c.req.valid("json");
    if (!("version" in body)) return c.json(agentView(await updateDescription(db, agent, body.description)), 200);
    refuseInternalHosts(body);
    const result = await publishVersion(db, agent, body, c.get("principal").id);
    if (result.created) announce(c, "agent.published", published(result));
    return c.json(published(result), result.created ? 201 : 200);
  },
);

agentsRouter.openapi(
  createRoute({
    method: "delete",
    path: "/{id}",
    tags,
    security: bearer,
    middleware: canWrite,
    summary: "Retire an agent (versions are kept)",
    request: { params: idParam },
    responses: { 204: { description: "Retired" }, ...commonErrors, ...notFound },
  }),
  async (c) => {
    const db = registryDb(c.env.DB);
    await retireAgent(db, await findAgent(db, c.req.valid("param").id));
    return c.body(null, 204);
  },
);

agentsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}/versions",
    tags,
    security: bearer,
    middleware: canRead,
    summary: "List an agent's versions, newest first",
    request: { params: idParam, query: pageQuery },
    responses: { 200: json(pageOf(versionSummarySchema, "AgentVersionPage"), "A page of versions"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const db = registryDb(c.env.DB);
    const { limit, cursor } = c.req.valid("query");
    return c.json(await listVersions(db, await findAgent(db, c.req.valid("param").id), limit, cursor), 200);
  },
);

agentsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}/versions/{version}",
    tags,
    security: bearer,
    middleware: canRead,
    summary: "Get one version with its spec",
    request: { params: versionParam },
    responses: { 200: json(versionDetailSchema, "The version"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const db = registryDb(c.env.DB);
    const { id, version } = c.req.valid("param");
    return c.json(await getVersion(db, await findAgent(db, id), version), 200);
  },
);

const channelMoveSchema = z.object({ channel: z.string(), version: z.string(), previous: z.string().nullable(), moved: z.boolean() }).openapi("ChannelMove");

agentsRouter.openapi(
  createRoute({
    method: "put",
    path: "/{id}/channels/{channel}",
    tags,
    security: bearer,
    middleware: canWrite,
    summary: "Point a channel at a version (deploy or roll back)",
    request: { params: channelParam, body: jsonBody(z.object({ version: semverString, reason: z.string().max(500).optional() }).strict()) },
    responses: { 200: json(channelMoveSchema, "Channel moved"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const db = registryDb(c.env.DB);
    const { id, channel } = c.req.valid("param");
    const { version, reason } = c.req.valid("json");
    const agent = await findAgent(db, id);
    const move = await moveChannel(db, agent, channel, version, c.get("principal").id, reason);
    if (move.moved) announce(c, "channel.moved", { agent: agent.name, agentId: agent.id, ...move, reason: reason ?? null });
    return c.json(move, 200);
  },
);

const deploymentSchema = z
  .object({
    id: z.string(),
    agentId: z.string(),
    channel: z.string(),
    fromVersion: z.string().nullable(),
    toVersion: z.string(),
    actor: z.string(),
    reason: z.string().nullable(),
    at: z.string(),
  })
  .openapi("Deployment");

agentsRouter.openapi(
  createRoute({
    method: "get",
    path: "/{id}/deployments",
    tags,
    security: bearer,
    middleware: canRead,
    summary: "Deployment history: every channel move, newest first",
    request: { params: idParam },
    responses: { 200: json(z.object({ items: z.array(deploymentSchema), nextCursor: z.null() }), "History"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const db = registryDb(c.env.DB);
    const agent = await findAgent(db, c.req.valid("param").id, { includeRetired: true });
    return c.json({ items: await deploymentHistory(db, agent.id), nextCursor: null }, 200);
  },
);
