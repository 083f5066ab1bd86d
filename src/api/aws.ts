import { createRoute, z } from "@hono/zod-openapi";
import { AWS_DEPLOYMENT_STATUSES, AWS_TARGETS } from "../deploy/aws/schema";
import { startAwsDeployment, startAwsRollback } from "../deploy/aws/start";
import { deploymentDetail, listDeployments } from "../deploy/aws/store";
import { findAgent, registryDb } from "../registry/store";
import { newRouter } from "./factory";
import { requireScope } from "./middleware/auth";
import { bearer, commonErrors, conflict, json, notFound, pageOf, pageQuery } from "./openapi-common";

const tags = ["aws"];
const read = requireScope("agents:read");
const admin = requireScope("evolution:admin");

const idParam = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" } }),
});

const errorSchema = z.object({ code: z.string(), message: z.string() });

const stepSchema = z
  .object({
    name: z.string().openapi({ description: "bedrock:update-agent, agentcore:upload, …; a rollback's steps start with rollback-<stamp>:" }),
    status: z.enum(["running", "succeeded", "failed"]),
    attempts: z.number().int().openapi({ description: "AWS calls made (throttling, 5xx and transitional 409s are retried)." }),
    polls: z.number().int(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    durationMs: z.number().int().nullable(),
    error: errorSchema.nullable().openapi({ description: "AWS's error code and message (or ours: PollTimeout, AgentFailed, …)." }),
    detail: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi("AwsDeploymentStep");

const deploymentSchema = z
  .object({
    id: z.string(),
    agentId: z.string(),
    version: z.string().openapi({ description: "The registry version shipped." }),
    target: z.enum(AWS_TARGETS),
    status: z.enum(AWS_DEPLOYMENT_STATUSES),
    aws: z.object({
      agentId: z.string().nullable().openapi({ description: "Bedrock agent id (bedrock-agent)." }),
      aliasId: z.string().nullable().openapi({ description: "The Bedrock `live` alias id." }),
      runtimeId: z.string().nullable(),
      runtimeArn: z.string().nullable().openapi({ description: "AgentCore runtime ARN (agentcore-runtime)." }),
      endpoint: z.string().nullable().openapi({ description: "The AgentCore endpoint moved (`live`)." }),
      version: z.string().nullable().openapi({ description: "The AWS version this deployment made." }),
      previousVersion: z.string().nullable().openapi({ description: "What `live` pointed at before; where a rollback takes it." }),
    }),
    error: errorSchema.nullable(),
    createdBy: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    finishedAt: z.string().nullable(),
    rolledBackAt: z.string().nullable(),
    steps: z.array(stepSchema),
  })
  .openapi("AwsDeployment");

const startBody = z
  .object({
    version: z.string().min(1).max(64).optional().openapi({ description: "Registry version; default: the live channel's." }),
    target: z.enum(AWS_TARGETS).optional().openapi({ description: "Default by kind: llm → bedrock-agent, code → agentcore-runtime." }),
  })
  .strict()
  .openapi("AwsDeploymentRequest");

const accepted = z.object({ id: z.string(), status: z.string() }).openapi("AwsDeploymentAccepted");

export const awsRouter = newRouter();

awsRouter.openapi(
  createRoute({
    method: "post",
    path: "/agents/{id}/aws-deployments",
    tags,
    security: bearer,
    middleware: [admin] as const,
    summary: "Ship a version to AWS (Bedrock Agents for llm agents, AgentCore Runtime for code agents); tracked as a Workflow",
    description:
      "Validated before any AWS call: 422 names the rule (instruction-length, bedrock-name-pattern, agentcore-name-pattern, description-length, target-kind) or aws-not-configured.",
    request: { params: idParam, body: { required: false, content: { "application/json": { schema: startBody } } } },
    responses: { 202: json(accepted, "Accepted; poll GET /aws-deployments/{id} or follow the deployments topic"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const body = (c.req.header("content-type") ?? "").includes("json") ? c.req.valid("json") : {};
    const started = await startAwsDeployment(c.env, c.req.valid("param").id, body ?? {}, c.get("principal").id);
    c.header("location", `/api/v1/aws-deployments/${started.id}`);
    return c.json(started, 202);
  },
);

awsRouter.openapi(
  createRoute({
    method: "get",
    path: "/agents/{id}/aws-deployments",
    tags,
    security: bearer,
    middleware: [read] as const,
    summary: "An agent's AWS deployments, newest first (steps omitted; read one for them)",
    request: { params: idParam, query: pageQuery },
    responses: { 200: json(pageOf(deploymentSchema, "AwsDeploymentPage"), "A page of deployments"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const d = registryDb(c.env.DB);
    const agent = await findAgent(d, c.req.valid("param").id, { includeRetired: true });
    const { limit, cursor } = c.req.valid("query");
    return c.json(await listDeployments(d, agent.id, limit, cursor), 200);
  },
);

awsRouter.openapi(
  createRoute({
    method: "get",
    path: "/aws-deployments/{id}",
    tags,
    security: bearer,
    middleware: [read] as const,
    summary: "A deployment: status, AWS ids and versions, each step with its attempts, polls and timings",
    request: { params: idParam },
    responses: { 200: json(deploymentSchema, "The deployment"), ...commonErrors, ...notFound },
  }),
  async (c) => c.json(await deploymentDetail(registryDb(c.env.DB), c.req.valid("param").id), 200),
);

awsRouter.openapi(
  createRoute({
    method: "post",
    path: "/aws-deployments/{id}/rollback",
    tags,
    security: bearer,
    middleware: [admin] as const,
    summary: "Move `live` back to the AWS version it had before this deployment (only the deployment live points at)",
    request: { params: idParam },
    responses: {
      202: json(accepted.extend({ rollback: z.string() }).openapi("AwsRollbackAccepted"), "Accepted; the deployment turns rolled_back"),
      ...commonErrors,
      ...notFound,
      ...conflict,
    },
  }),
  async (c) => c.json(await startAwsRollback(c.env, c.req.valid("param").id), 202),
);
