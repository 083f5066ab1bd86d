import { createRoute, z } from "@hono/zod-openapi";
import { runSuite, summarize } from "../evaluation/evaluate";
import { bedrockJudge, sandboxRunner } from "../evaluation/runner";
import { SYNC_CASE_LIMIT } from "../evaluation/pending";
import { createPendingEvaluation, evaluationView, getEvaluation, saveEvaluation, scoreHistory } from "../evaluation/store";
import { createSuite, findSuite, listSuites, suiteForAgent, suiteOf, suiteView } from "../evaluation/suite-store";
import { caseSchema, judgeConfigSchema, suiteInputSchema } from "../evaluation/suite";
import { semverString } from "../registry/spec";
import { findAgent, findVersion, getVersion, registryDb } from "../registry/store";
import { newRouter } from "./factory";
import { requireScope } from "./middleware/auth";
import { bearer, commonErrors, conflict, json, jsonBody, notFound, pageOf, pageQuery } from "./openapi-common";

const suiteSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    agentId: z.string(),
    description: z.string(),
    caseCount: z.number().int(),
    guardCases: z.array(z.string()),
    heldOutCases: z.array(z.string()).openapi({ description: "Cases the safety gate judges on and selection never sees (stable: FNV-1a of the case id mod 3 = 0)." }),
    contentHash: z.string(),
    judges: judgeConfigSchema.nullable(),
    createdAt: z.string(),
    createdBy: z.string(),
  })
  .openapi("Suite");

const suiteDetailSchema = suiteSchema.extend({ cases: z.array(caseSchema) }).openapi("SuiteDetail");

const caseResultSchema = z
  .object({
    caseId: z.string(),
    score: z.number(),
    passed: z.boolean(),
    uncertain: z.boolean().openapi({ description: "Judges disagreed beyond the threshold: reported, not counted." }),
    status: z.enum(["succeeded", "failed"]),
    durationMs: z.number(),
    tokens: z.number().int(),
    limitViolation: z.boolean(),
    error: z.object({ code: z.string(), detail: z.string() }).optional(),
    checks: z.array(z.record(z.string(), z.unknown())),
    output: z.string().optional(),
  })
  .openapi("CaseResult");

const evaluationSchema = z
  .object({
    id: z.string(),
    status: z.enum(["running", "completed", "failed"]),
    error: z.string().nullable(),
    agentId: z.string(),
    version: z.string(),
    suiteId: z.string(),
    score: z.number().openapi({ description: "Weighted mean over counted cases, in [0, 1]; becomes the version's score." }),
    trainScore: z.number(),
    heldOutScore: z.number(),
    counted: z.number().int(),
    uncertain: z.number().int(),
    passed: z.number().int(),
    total: z.number().int(),
    tokens: z.number().int(),
    source: z.string(),
    createdAt: z.string(),
  })
  .openapi("Evaluation");

const evaluationDetailSchema = evaluationSchema.extend({ cases: z.array(caseResultSchema) }).openapi("EvaluationDetail");

const scoreEntrySchema = evaluationSchema
  .extend({
    parentVersion: z.string().nullable(),
    parentScore: z.number().nullable(),
    regression: z.boolean().openapi({ description: "Significantly below its parent (paired one-sided sign test, p ≤ 0.05)." }),
    pValue: z.number().nullable(),
  })
  .openapi("ScoreEntry");

const idParam = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" } }),
});
const versionParam = idParam.extend({ version: semverString.openapi({ param: { name: "version", in: "path" } }) });

const tags = ["evaluation"];
const read = requireScope("agents:read");
const write = requireScope("agents:write");

export const suitesRouter = newRouter();

suitesRouter.openapi(
  createRoute({
    method: "post",
    path: "/suites",
    tags,
    security: bearer,
    middleware: [write] as const,
    summary: "Create an evaluation suite for an agent",
    request: { body: jsonBody(suiteInputSchema) },
    responses: { 201: json(suiteSchema, "Created"), 200: json(suiteSchema, "Identical suite already exists"), ...commonErrors, ...notFound, ...conflict },
  }),
  async (c) => {
    const { created, row } = await createSuite(registryDb(c.env.DB), c.req.valid("json"), c.get("principal").id);
    return c.json(suiteView(row), created ? 201 : 200);
  },
);

suitesRouter.openapi(
  createRoute({
    method: "get",
    path: "/suites",
    tags,
    security: bearer,
    middleware: [read] as const,
    summary: "List suites, newest first",
    request: { query: pageQuery.extend({ agent: z.string().max(100).optional().openapi({ description: "Agent id or name" }) }) },
    responses: { 200: json(pageOf(suiteSchema, "SuitePage"), "A page of suites"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const db = registryDb(c.env.DB);
    const { agent, ...page } = c.req.valid("query");
    const agentId = agent ? (await findAgent(db, agent)).id : undefined;
    return c.json(await listSuites(db, { ...page, ...(agentId ? { agentId } : {}) }), 200);
  },
);

suitesRouter.openapi(
  createRoute({
    method: "get",
    path: "/suites/{id}",
    tags,
    security: bearer,
    middleware: [read] as const,
    summary: "Get a suite with its cases",
    request: { params: idParam },
    responses: { 200: json(suiteDetailSchema, "The suite"), ...commonErrors, ...notFound },
  }),
  async (c) => c.json(suiteView(await findSuite(registryDb(c.env.DB), c.req.valid("param").id), true) as z.infer<typeof suiteDetailSchema>, 200),
);

suitesRouter.openapi(
  createRoute({
    method: "post",
    path: "/agents/{id}/versions/{version}/evaluate",
    tags,
    security: bearer,
    middleware: [write] as const,
    summary: "Score a version on a suite in the sandbox; the score becomes the version's",
    request: {
      params: versionParam,
      body: {
        required: false,
        content: {
          "application/json": {
            schema: z
              .object({
                suite: z.string().min(1).max(100).optional(),
                async: z
                  .boolean()
                  .optional()
                  .openapi({ description: `Run on the evaluation queue and answer 202 (always so for suites over ${SYNC_CASE_LIMIT} cases).` }),
              })
              .strict(),
          },
        },
      },
    },
    responses: {
      200: json(evaluationDetailSchema, "Scored; per-case results are stored"),
      202: json(evaluationSchema, "Queued: poll GET /evaluations/{id} (Location) until status is completed or failed"),
      ...commonErrors,
      ...notFound,
    },
  }),
  async (c) => {
    const db = registryDb(c.env.DB);
    const { id, version } = c.req.valid("param");
    const body = (c.req.header("content-type") ?? "").includes("json") ? c.req.valid("json") : {};
    const agent = await findAgent(db, id);
    const detail = await getVersion(db, agent, version);
    const suite = suiteOf(await suiteForAgent(db, agent.id, body?.suite));
    const actor = c.get("principal").id;
    if (body?.async || suite.cases.length > SYNC_CASE_LIMIT) {
      const pending = await createPendingEvaluation(db, { agentId: agent.id, version, suite, source: "api", actor });
      await c.env.EVOLUTION.send({ type: "evaluation", v: 1, evaluationId: pending.id });
      c.header("location", `/api/v1/evaluations/${pending.id}`);
      return c.json(evaluationView(pending), 202);
    }
    const hasJudges = suite.cases.some((k) => k.checks.some((x) => x.type === "judge"));
    const results = await runSuite(detail.spec, suite, sandboxRunner(c.env, { actor, agentId: agent.id }), hasJudges ? { judge: bedrockJudge(c.env) } : {});
    const row = await saveEvaluation(db, {
      agentId: agent.id,
      version,
      versionId: (await findVersion(db, agent.id, version))!.id,
      suite,
      summary: summarize(suite, results),
      cases: results,
      source: "api",
      actor,
    });
    return c.json(await getEvaluation(db, row.id), 200);
  },
);

suitesRouter.openapi(
  createRoute({
    method: "get",
    path: "/evaluations/{id}",
    tags,
    security: bearer,
    middleware: [read] as const,
    summary: "Get a stored evaluation with its per-case results",
    request: { params: idParam },
    responses: { 200: json(evaluationDetailSchema, "The evaluation"), ...commonErrors, ...notFound },
  }),
  async (c) => c.json(await getEvaluation(registryDb(c.env.DB), c.req.valid("param").id), 200),
);

suitesRouter.openapi(
  createRoute({
    method: "get",
    path: "/agents/{id}/scores",
    tags,
    security: bearer,
    middleware: [read] as const,
    summary: "Score history by version and time, newest first, with regressions flagged",
    request: { params: idParam, query: pageQuery },
    responses: { 200: json(pageOf(scoreEntrySchema, "ScorePage"), "Score history"), ...commonErrors, ...notFound },
  }),
  async (c) => {
    const db = registryDb(c.env.DB);
    const agent = await findAgent(db, c.req.valid("param").id, { includeRetired: true });
    return c.json(await scoreHistory(db, agent.id, c.req.valid("query")), 200);
  },
);
