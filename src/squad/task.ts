import { z } from "@hono/zod-openapi";
import { agentName } from "../registry/spec";

export const capabilityToken = z.string().regex(/^[a-z0-9][a-z0-9:._-]{0,63}$/, "must be a lowercase capability token");

export const consensusSchema = z
  .object({
    n: z.number().int().min(2).max(9).openapi({ description: "How many distinct members answer." }),
    strategy: z.enum(["majority", "unanimous", "first"]),
  })
  .strict()
  .openapi("Consensus");

/** The body of POST /api/v1/squads/{id}/tasks: route by capability or by a member agent's name. */
export const taskRequestSchema = z
  .object({
    capability: capabilityToken.optional(),
    agent: agentName.optional().openapi({ description: "Name of a member agent; the member's channel or version is used." }),
    input: z.unknown().openapi({ description: "Any JSON value, passed to the agent." }),
    priority: z.number().int().min(0).max(9).default(5).openapi({ description: "0–9, 9 most urgent." }),
    deadline: z.iso.datetime({ offset: true }).optional().openapi({ description: "If still unfinished at this time the task fails with deadline_exceeded." }),
    retries: z.number().int().min(0).max(10).optional().openapi({ description: "Overrides the squad policy's retries." }),
    timeoutMs: z.number().int().min(10).max(300_000).optional().openapi({ description: "Overrides the squad policy's taskTimeoutMs." }),
    consensus: consensusSchema.optional(),
  })
  .strict()
  .refine((t) => (t.capability === undefined) !== (t.agent === undefined), { message: "give exactly one of capability or agent", path: ["capability"] })
  .openapi("TaskRequest");

export type TaskRequest = z.infer<typeof taskRequestSchema>;
export const TASK_STATUSES = ["queued", "running", "completed", "failed", "cancelled"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const taskErrorSchema = z.object({ code: z.string(), detail: z.string() });
export type TaskError = z.infer<typeof taskErrorSchema>;

/** One member's answer to a consensus task. */
export const taskAnswerSchema = z.object({ member: z.string(), ok: z.boolean(), output: z.unknown().optional(), error: taskErrorSchema.optional(), durationMs: z.number() });
export type TaskAnswer = z.infer<typeof taskAnswerSchema>;

/** A task as the API shows it. */
export const taskViewSchema = z
  .object({
    taskId: z.string(),
    status: z.enum(TASK_STATUSES),
    priority: z.number().int(),
    capability: z.string().nullable(),
    agent: z.string().nullable(),
    input: z.unknown(),
    queuedAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    deadline: z.string().nullable(),
    attempts: z.number().int(),
    member: z.string().nullable(),
    output: z.unknown(),
    error: taskErrorSchema.nullable(),
    consensus: z.object({ n: z.number().int(), strategy: z.string(), agreement: z.number().nullable(), answers: z.array(taskAnswerSchema) }).nullable(),
    runId: z.string().nullable(),
    stepId: z.string().nullable(),
    traceId: z
      .string()
      .nullable()
      .openapi({ description: "W3C trace id of the request or message that submitted the task (its workflow run's, for a step); its runs carry it too" }),
  })
  .openapi("Task");

export type TaskView = z.infer<typeof taskViewSchema>;
