import { newId } from "../ids";
import type { NewTask } from "./run-coordinator";
import type { SquadStore, TaskRow } from "./store";
import type { TaskError, TaskRequest, TaskView } from "./task";

/** A task whose attempts were cut off by restarts this many times fails instead of looping forever. */
export const MAX_INTERRUPTIONS = 5;

/** How a running task ends: its output or error, and what its attempts recorded. */
export interface TaskEnd {
  output?: unknown;
  error?: TaskError;
  attempts?: number;
  member?: string;
  answers?: TaskRow["answers"];
  agreement?: number;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function taskView(t: TaskRow): TaskView {
  return {
    taskId: t.id,
    status: t.status,
    priority: t.priority,
    capability: t.capability,
    agent: t.agent,
    input: t.input,
    queuedAt: iso(t.queuedAt)!,
    startedAt: iso(t.startedAt),
    finishedAt: iso(t.finishedAt),
    deadline: iso(t.deadline),
    attempts: t.attempts,
    member: t.member,
    output: t.output,
    error: t.error,
    consensus: t.consensus ? { ...t.consensus, agreement: t.agreement, answers: t.answers ?? [] } : null,
    runId: t.runId,
    stepId: t.stepId,
    traceId: t.traceId,
  };
}

/** What a POST /tasks body asks for, with the squad's default retries. Pure. */
export function requestedTask(req: TaskRequest, defaultRetries: number, opts: { idempotencyKey?: string; actor?: string; traceId?: string }): NewTask {
  return {
    capability: req.capability ?? null,
    agent: req.agent ?? null,
    input: req.input ?? null,
    priority: req.priority,
    deadline: req.deadline ? Date.parse(req.deadline) : null,
    retries: req.retries ?? defaultRetries,
    timeoutMs: req.timeoutMs ?? null,
    consensus: req.consensus ?? null,
    actor: opts.actor ?? "system",
    traceId: opts.traceId ?? null,
    ...(opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}),
  };
}

/** A freshly queued row. Pure. */
export function queuedRow(t: NewTask, id: string, seq: number, now: number): TaskRow {
  return {
    id,
    seq,
    status: "queued",
    priority: t.priority,
    capability: t.capability ?? null,
    agent: t.agent ?? null,
    input: t.input,
    deadline: t.deadline,
    retries: t.retries,
    timeoutMs: t.timeoutMs,
    consensus: t.consensus,
    queuedAt: now,
    notBefore: now,
    startedAt: null,
    finishedAt: null,
    attempts: 0,
    round: 0,
    tried: [],
    interruptions: 0,
    epoch: 0,
    member: null,
    output: null,
    error: null,
    answers: null,
    agreement: null,
    actor: t.actor,
    runId: t.runId ?? null,
    stepId: t.stepId ?? null,
    idempotencyKey: t.idempotencyKey ?? null,
    traceId: t.traceId ?? null,
  };
}

/** A dispatched task: a new epoch, so whatever an older execution of it still records is refused. Pure. */
export const startedRow = (queued: TaskRow, now: number): TaskRow => ({ ...queued, status: "running", epoch: queued.epoch + 1, startedAt: queued.startedAt ?? now });

/** The patch that closes a running task. Pure. */
export function endPatch(end: TaskEnd, now: number): Partial<TaskRow> {
  return {
    status: end.error ? "failed" : "completed",
    finishedAt: now,
    output: end.error ? null : (end.output ?? null),
    error: end.error ?? null,
    ...(end.attempts !== undefined ? { attempts: end.attempts } : {}),
    ...(end.member ? { member: end.member } : {}),
    ...(end.answers ? { answers: end.answers } : {}),
    ...(end.agreement !== undefined ? { agreement: end.agreement } : {}),
  };
}

/** The event announcing a finished task. Pure. */
export function settledEvent(t: TaskRow): { type: string; data: unknown } {
  const common = { taskId: t.id, attempts: t.attempts, member: t.member, ...(t.runId ? { runId: t.runId, stepId: t.stepId } : {}) };
  const votes = t.consensus ? { agreement: t.agreement, answers: t.answers } : {};
  if (t.status === "completed") return { type: "task.completed", data: { ...common, output: t.output, ...votes } };
  if (t.status === "cancelled") return { type: "task.cancelled", data: common };
  return { type: "task.failed", data: { ...common, error: t.error, ...votes } };
}

/** A row a fresh instance finds `running` was cut off: re-queue it (keeping age and priority, spending no retry) unless restarts keep killing it. Pure. */
export function recovery(t: TaskRow, now: number): { action: "fail"; error: TaskError } | { action: "requeue"; patch: Partial<TaskRow> } {
  if (t.interruptions + 1 > MAX_INTERRUPTIONS)
    return { action: "fail", error: { code: "interrupted", detail: `The squad restarted during this task ${MAX_INTERRUPTIONS} times.` } };
  return { action: "requeue", patch: { status: "queued", notBefore: now, interruptions: t.interruptions + 1, tried: [] } };
}

/**
 * Applies the transitions above to the squad's storage. Each method is synchronous, hence atomic, and guarded by
 * status (and epoch for running tasks), so a superseded execution records nothing and a task settles once.
 */
export class TaskLedger {
  constructor(
    private readonly store: SquadStore,
    private readonly emit: (type: string, data: unknown) => void,
    private readonly onSettled: (t: TaskRow) => void,
  ) {}

  enqueue(t: NewTask): TaskRow {
    const now = Date.now();
    const row = queuedRow(t, newId("tsk", now), this.store.nextCounter("task"), now);
    this.store.insertTask(row);
    const step = row.runId ? { runId: row.runId, stepId: row.stepId } : {};
    this.emit("task.queued", { taskId: row.id, priority: row.priority, capability: row.capability, agent: row.agent, traceId: row.traceId, ...step });
    return row;
  }

  /** Marks a queued task running under a new epoch; the started events go out on its first start only. */
  start(queued: TaskRow, now: number): TaskRow {
    const task = startedRow(queued, now);
    this.store.updateTask(task.id, { status: "running", epoch: task.epoch, startedAt: task.startedAt }, { status: "queued" });
    if (queued.startedAt === null) {
      this.emit("task.started", { taskId: task.id, priority: task.priority, ...(task.runId ? { runId: task.runId, stepId: task.stepId } : {}) });
      if (task.runId) this.emit("run.step.started", { runId: task.runId, stepId: task.stepId, taskId: task.id });
    }
    return task;
  }

  /** Records one attempt's progress; false when the task was superseded (another epoch, or no longer running). */
  progress(task: TaskRow, patch: Pick<TaskRow, "attempts" | "tried"> & { member?: string }): boolean {
    return this.store.updateTask(task.id, patch, { status: "running", epoch: task.epoch });
  }

  requeue(task: TaskRow, attempts: number, error: TaskError, delayMs: number): void {
    const notBefore = Date.now() + delayMs;
    const requeued = this.store.updateTask(task.id, { status: "queued", attempts, round: task.round + 1, tried: [], notBefore, error }, { status: "running", epoch: task.epoch });
    if (requeued) this.emit("task.retried", { taskId: task.id, attempt: attempts + 1, reason: error.code, failover: false, delayMs, round: task.round + 1 });
  }

  finishRunning(task: TaskRow, end: TaskEnd): void {
    if (!this.store.updateTask(task.id, endPatch(end, Date.now()), { status: "running", epoch: task.epoch })) return; // superseded: recorded once only
    this.settled(this.store.getTask(task.id)!);
  }

  finishQueued(task: TaskRow, status: "cancelled" | "failed", error: TaskError): void {
    if (!this.store.updateTask(task.id, { status, finishedAt: Date.now(), error }, { status: "queued" })) return;
    this.settled(this.store.getTask(task.id)!);
  }

  /** Fails queued tasks whose deadline passed before they could run. */
  expire(now: number): void {
    for (const t of this.store.overdueQueued(now)) this.finishQueued(t, "failed", { code: "deadline_exceeded", detail: "The deadline passed before the task could run." });
  }

  /** Settles a task whose execution threw (a bug); if storage is gone too, recovery re-queues it on the next start. */
  crashed(task: TaskRow, err: unknown): void {
    console.error(JSON.stringify({ level: "error", where: "squad.execute", taskId: task.id, message: String(err), stack: (err as Error)?.stack }));
    try {
      this.finishRunning(task, { error: { code: "internal", detail: "The squad hit an unexpected error running this task." } });
    } catch {
      // storage is gone (the object is being torn down)
    }
  }

  /** A fresh instance has no executions in memory, so every `running` row was cut off; answers whether queued work waits. */
  recoverInterrupted(): boolean {
    const running = this.store.tasksWithStatus("running", 100_000);
    for (const t of running) {
      const next = recovery(t, Date.now());
      if (next.action === "fail") this.finishRunning(t, { error: next.error });
      else if (this.store.updateTask(t.id, next.patch, { status: "running", epoch: t.epoch })) {
        this.emit("task.retried", { taskId: t.id, attempt: t.attempts + 1, reason: "interrupted", failover: false });
      }
    }
    return running.length > 0 || this.store.nextWake(false) !== null;
  }

  private settled(t: TaskRow): void {
    const { type, data } = settledEvent(t);
    this.emit(type, data);
    this.onSettled(t);
  }
}
