import { newId } from "../ids";
import { planWorkflow, type Plan } from "../workflow/dag";
import { workflowSchema, type Workflow } from "../workflow/definition";
import { advance } from "../workflow/executor";
import type { SquadStore, TaskRow } from "./store";

/** What the squad needs to know to queue a task; workflow steps carry their run and step ids. */
export interface NewTask {
  capability?: string | null;
  agent?: string | null;
  input: unknown;
  priority: number;
  deadline: number | null;
  retries: number;
  timeoutMs: number | null;
  consensus: TaskRow["consensus"];
  actor: string;
  runId?: string;
  stepId?: string;
  idempotencyKey?: string;
  traceId?: string | null;
}

export interface RunRequest {
  workflow: Workflow;
  name: string;
  version: number;
  input: unknown;
  priority?: number;
  actor: string;
  /** The trace of the request starting the run; its steps' tasks and runs carry it. */
  traceId?: string;
}

export interface RunHost {
  store: SquadStore;
  emit(type: string, data: unknown): void;
  enqueue(task: NewTask): TaskRow;
  defaultRetries(): number;
}

/**
 * Applies the workflow state machine (workflow/executor.ts) to a squad's stored runs: each settled step task
 * is recorded, then the run advances — new steps become tasks, skipped ones are marked, a finished run is closed.
 * Everything here is synchronous, so each step's result and its consequences are stored atomically.
 */
export class RunCoordinator {
  private readonly plans = new Map<string, { wf: Workflow; plan: Plan }>();

  constructor(private readonly host: RunHost) {}

  /** Stores a new run of a validated workflow, announces it and queues its first level. */
  start(req: RunRequest, wf: Workflow, plan: Plan): string {
    const { store, emit } = this.host;
    const runId = newId("run");
    const traceId = req.traceId ?? null;
    const run = { id: runId, seq: store.nextCounter("run"), workflow: req.name, version: req.version, definition: JSON.stringify(wf), input: req.input ?? null };
    store.runs.insert(
      { ...run, status: "running", priority: req.priority ?? 5, startedAt: Date.now(), finishedAt: null, error: null, actor: req.actor, traceId },
      wf.steps.map((s) => s.id),
    );
    this.plans.set(runId, { wf, plan });
    emit("run.started", { runId, workflow: req.name, version: req.version, levels: plan.levels, traceId });
    this.advance(runId);
    return runId;
  }

  planFor(runId: string, definition?: string): { wf: Workflow; plan: Plan } {
    let cached = this.plans.get(runId);
    if (!cached) {
      const wf = workflowSchema.parse(JSON.parse(definition ?? this.host.store.runs.get(runId)!.definition));
      cached = { wf, plan: planWorkflow(wf) };
      this.plans.set(runId, cached);
    }
    return cached;
  }

  /** Records a finished step task (if its run is still going) and advances the run. */
  stepSettled(t: TaskRow): void {
    if (!t.runId || !t.stepId) return;
    const { store, emit } = this.host;
    const run = store.runs.get(t.runId);
    if (run?.status !== "running") return;
    const ok = t.status === "completed";
    store.runs.updateStep(t.runId, t.stepId, { status: ok ? "completed" : "failed", output: ok ? t.output : null, error: t.error, finishedAt: t.finishedAt ?? Date.now() });
    emit(ok ? "run.step.completed" : "run.step.failed", { runId: t.runId, stepId: t.stepId, taskId: t.id, ...(ok ? { output: t.output } : { error: t.error }) });
    this.advance(t.runId);
  }

  advance(runId: string): void {
    const { store, emit } = this.host;
    const run = store.runs.get(runId);
    if (run?.status !== "running") return;
    const { wf, plan } = this.planFor(runId, run.definition);
    const steps = store.runs.steps(runId);
    const decision = advance(wf, plan, { input: run.input, steps: Object.fromEntries(steps.map((s) => [s.stepId, { status: s.status, output: s.output, error: s.error }])) });
    const byId = new Map(wf.steps.map((s) => [s.id, s]));
    for (const { stepId, reason } of decision.skip) {
      store.runs.updateStep(runId, stepId, { status: "skipped", reason, finishedAt: Date.now() });
      emit("run.step.skipped", { runId, stepId, reason });
    }
    for (const { stepId, input } of decision.start) {
      const step = byId.get(stepId)!;
      const task = this.host.enqueue({
        capability: step.capability ?? null,
        agent: step.agent ?? null,
        input,
        priority: run.priority,
        deadline: null,
        retries: step.retries ?? this.host.defaultRetries(),
        timeoutMs: step.timeoutMs ?? null,
        consensus: step.consensus ?? null,
        actor: run.actor,
        runId,
        stepId,
        traceId: run.traceId,
      });
      store.runs.updateStep(runId, stepId, { status: "running", taskId: task.id });
    }
    if (decision.status === "running") return;
    store.runs.finish(runId, decision.status, decision.error ?? null, Date.now());
    this.plans.delete(runId);
    emit(decision.status === "completed" ? "run.completed" : "run.failed", {
      runId,
      durationMs: Date.now() - run.startedAt,
      ...(decision.error ? { error: decision.error } : {}),
    });
  }
}
