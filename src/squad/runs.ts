import { z } from "@hono/zod-openapi";
import type { Plan } from "../workflow/dag";
import type { Workflow } from "../workflow/definition";
import type { RunRow, StepRow } from "./run-store";
import type { TaskRow } from "./store";
import { taskErrorSchema } from "./task";

export const stepViewSchema = z.object({
  id: z.string(),
  status: z.enum(["pending", "running", "completed", "failed", "skipped"]),
  level: z.number().int().nullable(),
  taskId: z.string().nullable(),
  attempts: z.number().int(),
  member: z.string().nullable(),
  output: z.unknown(),
  error: taskErrorSchema.nullable(),
  reason: z.string().nullable(),
  queuedAt: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
});

/** A workflow run as run lists show it. */
export const runSummarySchema = z
  .object({
    runId: z.string(),
    workflow: z.string(),
    version: z.number().int(),
    status: z.enum(["running", "completed", "failed"]),
    input: z.unknown(),
    priority: z.number().int(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    durationMs: z.number().nullable(),
    error: taskErrorSchema.nullable(),
    traceId: z.string().nullable().openapi({ description: "W3C trace id of the request that started the run; each step's task and agent run carry it" }),
  })
  .openapi("RunSummary");

/** A workflow run with its plan's levels and every step. */
export const runViewSchema = runSummarySchema.extend({ levels: z.array(z.array(z.string())), steps: z.array(stepViewSchema) }).openapi("Run");

export type StepView = z.infer<typeof stepViewSchema>;
export type RunSummary = z.infer<typeof runSummarySchema>;
export type RunView = z.infer<typeof runViewSchema>;

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** A run with each step's status, output, attempts and timings (from the step's task). */
export function runView(run: RunRow, wf: Workflow | null, plan: Plan | null, steps: StepRow[], taskOf: (id: string) => TaskRow | null): RunView {
  const byId = new Map(steps.map((s) => [s.stepId, s]));
  return {
    runId: run.id,
    workflow: run.workflow,
    version: run.version,
    status: run.status,
    input: run.input,
    priority: run.priority,
    startedAt: iso(run.startedAt)!,
    finishedAt: iso(run.finishedAt),
    durationMs: run.finishedAt === null ? null : run.finishedAt - run.startedAt,
    error: run.error,
    traceId: run.traceId,
    levels: plan?.levels ?? [],
    steps: (wf?.steps ?? []).map((def) => {
      const s = byId.get(def.id);
      const task = s?.taskId ? taskOf(s.taskId) : null;
      const finishedAt = task?.finishedAt ?? s?.finishedAt ?? null;
      return {
        id: def.id,
        status: s?.status ?? "pending",
        level: plan?.levelOf[def.id] ?? null,
        taskId: s?.taskId ?? null,
        attempts: task?.attempts ?? 0,
        member: task?.member ?? null,
        output: s?.output ?? null,
        error: s?.error ?? null,
        reason: s?.reason ?? null,
        queuedAt: iso(task?.queuedAt),
        startedAt: iso(task?.startedAt),
        finishedAt: iso(finishedAt),
        durationMs: task?.startedAt && finishedAt ? finishedAt - task.startedAt : null,
      };
    }),
  };
}
