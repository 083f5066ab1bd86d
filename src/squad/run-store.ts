import type { TaskError } from "./task";

/** The squad's workflow runs and their steps, in its SQLite storage (tables created by SquadStore.migrate). */
export interface RunRow {
  id: string;
  seq: number;
  workflow: string;
  version: number;
  definition: string;
  input: unknown;
  status: "running" | "completed" | "failed";
  priority: number;
  startedAt: number;
  finishedAt: number | null;
  error: TaskError | null;
  actor: string;
  traceId: string | null;
}

export interface StepRow {
  stepId: string;
  status: "pending" | "running" | "completed" | "failed" | "skipped";
  taskId: string | null;
  output: unknown;
  error: TaskError | null;
  reason: string | null;
  finishedAt: number | null;
}

export class RunStore {
  constructor(private readonly sql: SqlStorage) {}

  insert(r: RunRow, stepIds: string[]): void {
    this.sql.exec(
      "INSERT INTO runs (id, seq, workflow, version, definition, input, status, priority, started_at, finished_at, error, actor, trace_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      r.id,
      r.seq,
      r.workflow,
      r.version,
      r.definition,
      JSON.stringify(r.input ?? null),
      r.status,
      r.priority,
      r.startedAt,
      r.finishedAt,
      r.error ? JSON.stringify(r.error) : null,
      r.actor,
      r.traceId,
    );
    for (const stepId of stepIds) this.sql.exec("INSERT INTO run_steps (run_id, step_id, status) VALUES (?, ?, 'pending')", r.id, stepId);
  }

  get(id: string): RunRow | null {
    const row = this.sql.exec("SELECT * FROM runs WHERE id = ?", id).toArray()[0];
    if (!row) return null;
    return {
      id: row.id as string,
      seq: row.seq as number,
      workflow: row.workflow as string,
      version: row.version as number,
      definition: row.definition as string,
      input: JSON.parse(row.input as string),
      status: row.status as RunRow["status"],
      priority: row.priority as number,
      startedAt: row.started_at as number,
      finishedAt: row.finished_at as number | null,
      error: row.error ? JSON.parse(row.error as string) : null,
      actor: row.actor as string,
      traceId: (row.trace_id as string | null) ?? null,
    };
  }

  list(limit: number, beforeSeq?: number): RunRow[] {
    const ids = this.sql
      .exec<{ id: string }>(
        `SELECT id FROM runs ${beforeSeq !== undefined ? "WHERE seq < ?" : ""} ORDER BY seq DESC LIMIT ?`,
        ...(beforeSeq !== undefined ? [beforeSeq] : []),
        limit,
      )
      .toArray();
    return ids.map((r) => this.get(r.id)!);
  }

  finish(id: string, status: "completed" | "failed", error: TaskError | null, now: number): void {
    this.sql.exec("UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ? AND status = 'running'", status, error ? JSON.stringify(error) : null, now, id);
  }

  steps(runId: string): StepRow[] {
    return this.sql
      .exec("SELECT * FROM run_steps WHERE run_id = ?", runId)
      .toArray()
      .map((r) => ({
        stepId: r.step_id as string,
        status: r.status as StepRow["status"],
        taskId: r.task_id as string | null,
        output: r.output === null ? null : JSON.parse(r.output as string),
        error: r.error ? JSON.parse(r.error as string) : null,
        reason: r.reason as string | null,
        finishedAt: r.finished_at as number | null,
      }));
  }

  updateStep(
    runId: string,
    stepId: string,
    patch: { status: StepRow["status"]; taskId?: string; output?: unknown; error?: TaskError | null; reason?: string; finishedAt?: number },
  ): void {
    this.sql.exec(
      `UPDATE run_steps SET status = ?, task_id = COALESCE(?, task_id), output = ?, error = ?, reason = ?, finished_at = ? WHERE run_id = ? AND step_id = ?`,
      patch.status,
      patch.taskId ?? null,
      patch.output === undefined ? null : JSON.stringify(patch.output),
      patch.error ? JSON.stringify(patch.error) : null,
      patch.reason ?? null,
      patch.finishedAt ?? null,
      runId,
      stepId,
    );
  }
}
