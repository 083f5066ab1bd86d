import type { Plan } from "../workflow/dag";
import type { Workflow } from "../workflow/definition";
import type { RunRow, StepRow, TaskRow } from "./store";
import type { TaskError } from "./task";

export interface StepView {
  id: string;
  status: StepRow["status"];
  level: number | null;
  taskId: string | null;
  attempts: number;
  member: string | null;
  output: unknown;
  error: TaskError | null;
  reason: string | null;
  queuedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

export interface RunView {
  runId: string;
  workflow: string;
  version: number;
  status: RunRow["status"];
  input: unknown;
  priority: number;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  error: TaskError | null;
  traceId: string | null;
  levels: string[][];
  steps: StepView[];
}

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
