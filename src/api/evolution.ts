import { createRoute, z } from "@hono/zod-openapi";
import { decideApproval, evolutionStats, listApprovals, reviewCanaries } from "../deploy/promote";
import { evolutionPolicySchema } from "../evolution/policy";
import { policyView, setPolicy } from "../evolution/policy-store";
import { startRun } from "../evolution/run";
import { candidateDiff } from "../evolution/candidate-diff";
import { listRuns, runView } from "../evolution/view";
import { TRACE_ID_PATTERN } from "../observability/trace";
import { findAgent, registryDb } from "../registry/store";
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

const policySchema = evolutionPolicySchema
  .extend({ agentId: z.string(), suiteId: z.string(), plannedEvaluations: z.number().int(), updatedAt: z.string(), updatedBy: z.string() })
  .openapi("EvolutionPolicy");

const budgetSchema = z.object({ maxEvaluations: z.number().int(), maxTokens: z.number().int(), evaluationsUsed: z.number().int(), tokensUsed: z.number().int() });

const runSummarySchema = z
  .object({
    id: z.string(),
    agentId: z.string(),
    status: z.enum(["queued", "running", "completed", "failed"]),
    trigger: z.string(),
    slot: z.string(),
    seed: z.number().int(),
    baseVersion: z.string(),
    suiteId: z.string(),
    generation: z.number().int(),
    generations: z.number().int(),
    budget: budgetSchema,
    screening: z
      .object({ screenedOut: z.number().int(), evaluationsSaved: z.number().int() })
      .openapi({ description: "Children minibatch screening kept from a full evaluation, and the case runs that saved." }),
    outcome: z.record(z.string(), z.unknown()).nullable(),
    error: z.string().nullable(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
    traceId: z
      .string()
      .nullable()
      .openapi({ description: "W3C trace id of the request or cron tick that started the run; the runs of its candidates' evaluations carry it (GET /runs?traceId=)" }),
  })
  .openapi("EvolutionRunSummary");

const candidateSchema = z
  .object({
    id: z.string(),
    generation: z.number().int(),
    operator: z.string().openapi({
      description: "seed | es | merge | mutation | merge:model | rewrite:prompt | rewrite:code (crossover and crossover+mutation on runs made before the adaptive search)",
    }),
    parents: z.array(z.string()),
    sourceVersion: z.string().nullable(),
    status: z.string(),
    trainScore: z.number().nullable(),
    heldOutScore: z.number().nullable(),
    score: z.number().nullable(),
    sizeBytes: z.number().int(),
    cost: z.number().nullable(),
    reusedFrom: z.string().nullable(),
    caseRuns: z
      .number()
      .int()
      .openapi({ description: "Case runs this candidate cost this run: its screening minibatch, plus the rest when fully evaluated (0 when results were reused)." }),
    kept: z.boolean().nullable(),
    reason: z.string().nullable().openapi({ description: "Why it was kept or dropped (per-case Pareto pool, screening, duplicate, budget, rewrite, gate)." }),
    gate: z.record(z.string(), z.unknown()).nullable(),
    version: z.string().nullable(),
    traceId: z.string().nullable().openapi({ description: "The run's W3C trace id: its evaluation runs carry it (GET /runs?traceId=)" }),
  })
  .openapi("EvolutionCandidate");

const runSchema = runSummarySchema
  .extend({
    generationStats: z.array(
      z.object({ generation: z.number().int(), best: z.number(), median: z.number(), worst: z.number(), evaluated: z.number().int(), survivors: z.array(z.string()) }),
    ),
    candidates: z.array(candidateSchema),
  })
  .openapi("EvolutionRun");

const approvalSchema = z
  .object({
    id: z.string(),
    agentId: z.string(),
    runId: z.string(),
    candidateId: z.string(),
    version: z.string(),
    reasons: z.array(z.string()),
    status: z.enum(["pending", "approved", "rejected"]),
    createdAt: z.string(),
    decidedAt: z.string().nullable(),
    decidedBy: z.string().nullable(),
    note: z.string().nullable(),
  })
  .openapi("EvolutionApproval");

const statsSchema = z
  .object({
    autonomyRatio: z.number().nullable().openapi({ description: "Automatic promotions / all promotions, measured; null before the first." }),
    promotions: z.object({ total: z.number().int(), automatic: z.number().int(), approved: z.number().int(), byStatus: z.record(z.string(), z.number()) }),
    rollbacks: z.number().int(),
    blocks: z.object({ total: z.number().int(), byRule: z.record(z.string(), z.number()) }),
    gated: z.number().int(),
    approvals: z.record(z.string(), z.number()),
    runs: z.record(z.string(), z.number()),
    candidates: z.record(z.string(), z.number()),
  })
  .openapi("EvolutionStats");

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

const candidateDiffSchema = z
  .object({
    id: z.string(),
    operator: z.string(),
    parents: z.array(z.string()),
    sourceVersion: z.string().nullable(),
    spec: z.record(z.string(), z.unknown()),
    parent: z
      .object({ id: z.string(), spec: z.record(z.string(), z.unknown()) })
      .nullable()
      .openapi({ description: "The first parent named (null for a seed: see sourceVersion)." }),
    changes: z
      .array(z.object({ field: z.string(), parent: z.unknown(), child: z.unknown() }))
      .openapi({ description: "Spec fields that differ from the parent, params gene by gene (params.<gene>)." }),
  })
  .openapi("EvolutionCandidateDiff");

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
