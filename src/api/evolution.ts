import { createRoute, z } from "@hono/zod-openapi";
import { decideApproval, evolutionStats, listApprovals, reviewCanaries } from "../deploy/promote";
import { evolutionPolicySchema } from "../evolution/policy";
import { policyView, setPolicy } from "../evolution/policy-store";
import { startRun } from "../evolution/run";
import { candidateDiff } from "../evolution/candidate-diff";
import { listRuns, runView } from "../evolution/view";
import { TRACE_ID_PATTERN } from "../observability/trace";
import { findAgent, registryDb } from "../registry/store";
import { approvalSchema, candidateDiffSchema, policySchema, runSchema, runSummarySchema, statsSchema } from "./evolution-schemas";
import { newRouter } from "./factory";
import { requireScope } from "./middleware/auth";
import { bearer, commonErrors, conflict, json, jsonBody, notFound, pageOf, pageQuery } from "./openapi-common";

const tags = ["evolution"];
const read = requireScope("agents:read");
const admin = requireScope("evolution:admin");

const idParam = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" } }),
});

export const evolutionRouter = newRouter();

evolutionRouter.openapi(
  createRoute({
    method: "put",
    path: "/agents/{id}/evolution",
    tags,
    security: bearer,
    middleware: [admin] as const,
    summary: "Set an agent's evolution policy (genes, population, rates, gate thresholds, budget)",
    request: { params: idParam, body: jsonBody(evolutionPolicySchema) },
    responses: { 200: json(policySchema, "The stored policy"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const db = registryDb(c.env.DB);
    const agent = await findAgent(db, c.req.valid("param").id);
    return c.json(await setPolicy(db, agent, c.req.valid("json"), c.get("principal").id), 200);
  },
);

evolutionRouter.openapi(
  createRoute({
    method: "get",
    path: "/agents/{id}/evolution",
    tags,
    security: bearer,
    middleware: [read] as const,
    summary: "Get an agent's evolution policy",
    request: { params: idParam },
    responses: { 200: json(policySchema, "The policy"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const db = registryDb(c.env.DB);
    return c.json(await policyView(db, await findAgent(db, c.req.valid("param").id)), 200);
  },
);

evolutionRouter.openapi(
  createRoute({
    method: "post",
    path: "/evolution/runs",
    tags,
    security: bearer,
    middleware: [admin] as const,
    summary: "Start an evolution run by hand; it proceeds on the evolution queue",
    request: { body: jsonBody(z.object({ agent: z.string().min(1).max(100) }).strict()) },
    responses: { 202: json(z.object({ runId: z.string() }).openapi("EvolutionRunStarted"), "Accepted"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const { runId } = await startRun(c.env, c.req.valid("json").agent, { trigger: "manual", actor: c.get("principal").id });
    c.header("location", `/api/v1/evolution/runs/${runId}`);
    return c.json({ runId }, 202);
  },
);

evolutionRouter.openapi(
  createRoute({
    method: "get",
    path: "/evolution/runs",
    tags,
    security: bearer,
    middleware: [read] as const,
    summary: "List evolution runs, newest first",
    request: {
      query: pageQuery.extend({
        agent: z.string().max(100).optional(),
        status: z.enum(["queued", "running", "finishing", "completed", "failed"]).optional(),
        traceId: z.string().regex(TRACE_ID_PATTERN, "must be 32 lowercase hex digits").optional().openapi({ description: "Only runs started in this W3C trace" }),
      }),
    },
    responses: { 200: json(pageOf(runSummarySchema, "EvolutionRunPage"), "A page of runs"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const db = registryDb(c.env.DB);
    const { agent, ...q } = c.req.valid("query");
    const agentId = agent ? (await findAgent(db, agent, { includeRetired: true })).id : undefined;
    return c.json(await listRuns(db, { ...q, ...(agentId ? { agentId } : {}) }), 200);
  },
);

evolutionRouter.openapi(
  createRoute({
    method: "get",
    path: "/evolution/runs/{id}",
    tags,
    security: bearer,
    middleware: [read] as const,
    summary: "A run: status, best/median/worst per generation, candidates and why each was kept or dropped",
    request: { params: idParam },
    responses: { 200: json(runSchema, "The run"), ...commonErrors, ...notFound },
  }),
  async (c) => c.json(await runView(registryDb(c.env.DB), c.req.valid("param").id), 200),
);

evolutionRouter.openapi(
  createRoute({
    method: "get",
    path: "/evolution/runs/{id}/candidates/{candidateId}",
    tags,
    security: bearer,
    middleware: [read] as const,
    summary: "A candidate's spec against its parent's: what the operator changed",
    request: {
      params: idParam.extend({
        candidateId: z
          .string()
          .min(1)
          .max(200)
          .openapi({ param: { name: "candidateId", in: "path" } }),
      }),
    },
    responses: { 200: json(candidateDiffSchema, "The candidate and its parent"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const { id, candidateId } = c.req.valid("param");
    return c.json(await candidateDiff(registryDb(c.env.DB), id, candidateId), 200);
  },
);

evolutionRouter.openapi(
  createRoute({
    method: "get",
    path: "/evolution/approvals",
    tags,
    security: bearer,
    middleware: [read] as const,
    summary: "Evolved versions waiting for (or decided by) a person",
    request: { query: pageQuery.extend({ status: z.enum(["pending", "approved", "rejected"]).optional(), agent: z.string().max(100).optional() }) },
    responses: { 200: json(pageOf(approvalSchema, "EvolutionApprovalPage"), "A page of approvals"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const db = registryDb(c.env.DB);
    const { agent, ...q } = c.req.valid("query");
    const agentId = agent ? (await findAgent(db, agent, { includeRetired: true })).id : undefined;
    return c.json(await listApprovals(db, { ...q, ...(agentId ? { agentId } : {}) }), 200);
  },
);

const decisionBody = { required: false, content: { "application/json": { schema: z.object({ note: z.string().max(1000).optional() }).strict() } } };

for (const decision of ["approve", "reject"] as const) {
  evolutionRouter.openapi(
    createRoute({
      method: "post",
      path: `/evolution/approvals/{id}/${decision}`,
      tags,
      security: bearer,
      middleware: [admin] as const,
      summary: decision === "approve" ? "Approve: the version goes to canary" : "Reject: the version is not deployed",
      request: { params: idParam, body: decisionBody },
      responses: { 200: json(approvalSchema, "Decided"), ...commonErrors, ...notFound, ...conflict },
    }),
    async (c) => {
      const body = (c.req.header("content-type") ?? "").includes("json") ? c.req.valid("json") : {};
      return c.json(await decideApproval(c.env, c.req.valid("param").id, decision, c.get("principal").id, body?.note), 200);
    },
  );
}

evolutionRouter.openapi(
  createRoute({
    method: "post",
    path: "/evolution/canaries/review",
    tags,
    security: bearer,
    middleware: [admin] as const,
    summary: "Judge open canaries on their live results now (the cron does this every tick)",
    responses: {
      200: json(z.object({ promoted: z.array(z.string()), rolledBack: z.array(z.string()), waiting: z.array(z.string()) }).openapi("CanaryReview"), "Decisions"),
      ...commonErrors,
    },
  }),
  async (c) => c.json(await reviewCanaries(c.env), 200),
);

evolutionRouter.openapi(
  createRoute({
    method: "get",
    path: "/evolution/stats",
    tags,
    security: bearer,
    middleware: [read] as const,
    summary: "Measured autonomy ratio, promotions, rollbacks and gate blocks by rule",
    request: { query: z.object({ agent: z.string().max(100).optional() }) },
    responses: { 200: json(statsSchema, "Stats"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const db = registryDb(c.env.DB);
    const { agent } = c.req.valid("query");
    const agentId = agent ? (await findAgent(db, agent, { includeRetired: true })).id : undefined;
    return c.json(await evolutionStats(db, agentId), 200);
  },
);
