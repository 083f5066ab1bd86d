import { createRoute, z } from "@hono/zod-openapi";
import { AppError, errorCodes } from "../errors";
import { breakerSnapshots } from "../models/breaker";
import { executeAgent } from "../runtime/execute";
import { recordAfter } from "../runtime/run-writer";
import { SYSTEM_MAX_TIMEOUT_MS } from "../runtime/limits";
import { newRouter } from "./factory";
import { requireScope } from "./middleware/auth";
import { bearer, commonErrors, json, jsonBody, notFound } from "./openapi-common";
import { problemType } from "./problem";

const usageSchema = z.object({ inputTokens: z.number().int(), outputTokens: z.number().int(), totalTokens: z.number().int() }).openapi("RunUsage");

const executeBody = z
  .object({
    agent: z.string().min(1).max(200).openapi({ description: "`name` (the live channel, else the latest version), `name@1.2.0` or `name#channel`", example: "summarizer#canary" }),
    input: z.unknown().openapi({ description: "Any JSON value; checked against the agent's inputSchema when it has one." }),
    timeoutMs: z.number().int().min(1).max(SYSTEM_MAX_TIMEOUT_MS).optional().openapi({ description: "Shortens the agent's own limit (default 5000 ms); never lengthens it." }),
    sessionId: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[0-9a-zA-Z._:-]+$/)
      .optional()
      .openapi({ description: "Bedrock session for bedrock-agent agents; reuse it across a task's runs." }),
  })
  .strict()
  .openapi("ExecuteRequest");

const executeResult = z
  .object({
    runId: z.string(),
    agent: z.string(),
    version: z.string(),
    output: z.unknown(),
    durationMs: z.number().int(),
    usage: usageSchema.optional(),
  })
  .openapi("ExecuteResult");

const runProblem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: z.object({ type: z.string(), title: z.string(), status: z.number(), detail: z.string(), runId: z.string().optional() }) } },
});

export const executeRouter = newRouter();

executeRouter.use("*", requireScope("squads:run"));

executeRouter.openapi(
  createRoute({
    method: "post",
    path: "/",
    tags: ["runs"],
    security: bearer,
    summary: "Run an agent once and wait for its output",
    description:
      "Every run is recorded (GET /runs/{id}): the record is written right after the answer and readable within 1 s. A failed run answers a problem naming its runId: agent-failed, agent-timeout, agent-output-too-large, agent-output-invalid, agent-module-invalid, validation-failed (input vs inputSchema), bedrock-not-configured, circuit-open, or bedrock-<aws-error-code> such as bedrock-throttling-exception.",
    request: { body: jsonBody(executeBody) },
    responses: {
      200: json(executeResult, "The run succeeded"),
      ...commonErrors,
      ...notFound,
      502: runProblem("Bedrock answered an error"),
      503: runProblem("Bedrock is not configured, or the model's circuit breaker is open"),
      504: runProblem("The run timed out"),
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const result = await executeAgent(
      c.env,
      { agent: body.agent, input: body.input ?? null, timeoutMs: body.timeoutMs, sessionId: body.sessionId, actor: c.get("principal").id, source: "api" },
      recordAfter(c.env),
    );
    if (result.status === "failed" && result.error) {
      throw new AppError(result.error.code in errorCodes ? result.error.code : "agent_failed", result.error.detail, {
        type: result.error.type ?? problemType(result.error.code),
        ...(result.error.errors ? { errors: result.error.errors } : {}),
        runId: result.runId,
        agent: result.agent,
        version: result.version,
        durationMs: result.durationMs,
        ...(result.limitViolation ? { limitViolation: true } : {}),
      });
    }
    return c.json(
      {
        runId: result.runId,
        agent: result.agent,
        version: result.version,
        output: result.output ?? null,
        durationMs: result.durationMs,
        ...(result.usage ? { usage: result.usage } : {}),
      },
      200,
    );
  },
);

const breakerSchema = z
  .object({
    key: z.string(),
    state: z.enum(["closed", "open", "half-open"]),
    consecutiveFailures: z.number().int(),
    openedAt: z.number().nullable(),
    retryAt: z.number().nullable(),
    totalFailures: z.number().int(),
    totalSuccesses: z.number().int(),
    timesOpened: z.number().int(),
  })
  .openapi("CircuitBreaker");

/** The per-model circuit breakers of the isolate that answers (each isolate keeps its own). */
export const modelsRouter = newRouter();

modelsRouter.use("*", requireScope("agents:read"));

modelsRouter.openapi(
  createRoute({
    method: "get",
    path: "/breakers",
    tags: ["runs"],
    security: bearer,
    summary: "Circuit breakers of Bedrock models and agents, as this isolate sees them",
    responses: { 200: json(z.object({ items: z.array(breakerSchema), nextCursor: z.null() }).openapi("CircuitBreakerList"), "Breakers"), ...commonErrors },
  }),
  (c) => c.json({ items: breakerSnapshots(), nextCursor: null }, 200),
);
