import type { SquadConfig } from "./config";
import { REPLAY_MAX_AGE_MS, pruneBelowSeq, type SquadEvent } from "./events";
import type { TaskAnswer, TaskError, TaskStatus } from "./task";
import { RunStore } from "./run-store";
import type { Breaker } from "./breaker";
import { closedBreaker } from "./breaker";

/**
 * The squad's own SQLite tables (Durable Object storage). Thin: rows in, rows out.
 * Writes made without an intervening await commit together, so each synchronous block below is atomic.
 */
const SCHEMA_VERSION = 4;

const DDL = [
  `CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, status TEXT NOT NULL, priority INTEGER NOT NULL,
    capability TEXT, agent TEXT, input TEXT NOT NULL, deadline INTEGER, retries INTEGER NOT NULL, timeout_ms INTEGER,
    consensus TEXT, queued_at INTEGER NOT NULL, not_before INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0, round INTEGER NOT NULL DEFAULT 0, tried TEXT NOT NULL DEFAULT '[]',
    interruptions INTEGER NOT NULL DEFAULT 0, epoch INTEGER NOT NULL DEFAULT 0,
    member TEXT, output TEXT, error TEXT, answers TEXT, agreement REAL, actor TEXT NOT NULL,
    run_id TEXT, step_id TEXT, idempotency_key TEXT UNIQUE)`,
  `CREATE INDEX IF NOT EXISTS tasks_queue ON tasks (status, priority, queued_at, seq)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_seq ON tasks (seq)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_status_seq ON tasks (status, seq)`,
  // v2: deadline checks run on every dispatch pass; keep them off the full queue.
  `CREATE INDEX IF NOT EXISTS tasks_queued_deadline ON tasks (deadline) WHERE status = 'queued' AND deadline IS NOT NULL`,
  `CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, ts INTEGER NOT NULL, data TEXT NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS events_ts ON events (ts)`,
  `CREATE TABLE IF NOT EXISTS breakers (member TEXT PRIMARY KEY, state TEXT NOT NULL, failures INTEGER NOT NULL, opened_at INTEGER)`,
  `CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, workflow TEXT NOT NULL, version INTEGER NOT NULL, definition TEXT NOT NULL,
    input TEXT NOT NULL, status TEXT NOT NULL, priority INTEGER NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER,
    error TEXT, actor TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS run_steps (
    run_id TEXT NOT NULL, step_id TEXT NOT NULL, status TEXT NOT NULL, task_id TEXT, output TEXT, error TEXT,
    reason TEXT, finished_at INTEGER, PRIMARY KEY (run_id, step_id))`,
  // v4: member run records held until D1 (or the RunBuffer) has them (run-outbox.ts).
  `CREATE TABLE IF NOT EXISTS run_outbox (id TEXT PRIMARY KEY, record TEXT NOT NULL, held_at INTEGER NOT NULL)`,
];

/** v3: tasks and runs carry the W3C trace id of the request or message that caused them. */
const ADDED_COLUMNS: [table: string, column: string][] = [
  ["tasks", "trace_id"],
  ["runs", "trace_id"],
];

export interface TaskRow {
  id: string;
  seq: number;
  status: TaskStatus;
  priority: number;
  capability: string | null;
  agent: string | null;
  input: unknown;
  deadline: number | null;
  retries: number;
  timeoutMs: number | null;
  consensus: { n: number; strategy: "majority" | "unanimous" | "first" } | null;
  queuedAt: number;
  notBefore: number;
  startedAt: number | null;
  finishedAt: number | null;
  attempts: number;
  round: number;
  tried: string[];
  interruptions: number;
  epoch: number;
  member: string | null;
  output: unknown;
  error: TaskError | null;
  answers: TaskAnswer[] | null;
  agreement: number | null;
  actor: string;
  runId: string | null;
  stepId: string | null;
  idempotencyKey: string | null;
  traceId: string | null;
}

const TASK_COLUMNS: Record<keyof TaskRow, [column: string, json: boolean]> = {
  id: ["id", false],
  seq: ["seq", false],
  status: ["status", false],
  priority: ["priority", false],
  capability: ["capability", false],
  agent: ["agent", false],
  input: ["input", true],
  deadline: ["deadline", false],
  retries: ["retries", false],
  timeoutMs: ["timeout_ms", false],
  consensus: ["consensus", true],
  queuedAt: ["queued_at", false],
  notBefore: ["not_before", false],
  startedAt: ["started_at", false],
  finishedAt: ["finished_at", false],
  attempts: ["attempts", false],
  round: ["round", false],
  tried: ["tried", true],
  interruptions: ["interruptions", false],
  epoch: ["epoch", false],
  member: ["member", false],
  output: ["output", true],
  error: ["error", true],
  answers: ["answers", true],
  agreement: ["agreement", false],
  actor: ["actor", false],
  runId: ["run_id", false],
  stepId: ["step_id", false],
  idempotencyKey: ["idempotency_key", false],
  traceId: ["trace_id", false],
};

// JSON columns hold `null` for SQL NULL; an output of JSON null is stored as the text "null".
const toSql = (value: unknown, json: boolean) => (json ? (value === undefined ? null : JSON.stringify(value)) : (value ?? null));
const fromSql = (value: unknown, json: boolean) => (json ? (value === null ? null : JSON.parse(value as string)) : value);

function taskFromRow(row: Record<string, SqlStorageValue>): TaskRow {
  const out: Record<string, unknown> = {};
  for (const [key, [column, json]] of Object.entries(TASK_COLUMNS)) out[key] = fromSql(row[column] ?? null, json);
  return out as unknown as TaskRow;
}

export interface Meta {
  squadId: string;
  config: SquadConfig;
  deleted: boolean;
}

export class SquadStore {
  readonly runs: RunStore;

  constructor(private readonly sql: SqlStorage) {
    this.runs = new RunStore(sql);
  }

  /** Creates the tables once (every statement is idempotent, so a version bump reruns them all); later start-ups read one row and stop. */
  migrate(): void {
    this.sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    if (Number(this.getMeta("schema_version") ?? 0) >= SCHEMA_VERSION) return;
    for (const statement of DDL) this.sql.exec(statement);
    for (const [table, column] of ADDED_COLUMNS) {
      // ALTER TABLE ADD is not idempotent: add only what a table (created by an older version) lacks.
      const has = this.sql
        .exec(`PRAGMA table_info(${table})`)
        .toArray()
        .some((c) => c.name === column);
      if (!has) this.sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column} TEXT`);
    }
    this.setMeta("schema_version", String(SCHEMA_VERSION));
  }

  getMeta(key: string): string | null {
    const rows = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray();
    return rows[0]?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
  }

  meta(): Meta | null {
    const squadId = this.getMeta("squad_id");
    const config = this.getMeta("config");
    if (!squadId || !config) return null;
    return { squadId, config: JSON.parse(config) as SquadConfig, deleted: this.getMeta("deleted") === "1" };
  }

  /** A per-squad counter (task seq, event seq, run seq). */
  nextCounter(name: string): number {
    const next = Number(this.getMeta(`counter:${name}`) ?? 0) + 1;
    this.setMeta(`counter:${name}`, String(next));
    return next;
  }

  // tasks

  insertTask(t: TaskRow): void {
    const keys = Object.keys(TASK_COLUMNS) as (keyof TaskRow)[];
    this.sql.exec(
      `INSERT INTO tasks (${keys.map((k) => TASK_COLUMNS[k][0]).join(", ")}) VALUES (${keys.map(() => "?").join(", ")})`,
      ...keys.map((k) => toSql(t[k], TASK_COLUMNS[k][1])),
    );
  }

  updateTask(id: string, patch: Partial<TaskRow>, where: { status?: TaskStatus; epoch?: number } = {}): boolean {
    const keys = Object.keys(patch) as (keyof TaskRow)[];
    const conditions = ["id = ?"];
    const params: unknown[] = [id];
    if (where.status) {
      conditions.push("status = ?");
      params.push(where.status);
    }
    if (where.epoch !== undefined) {
      conditions.push("epoch = ?");
      params.push(where.epoch);
    }
    const cursor = this.sql.exec(
      `UPDATE tasks SET ${keys.map((k) => `${TASK_COLUMNS[k][0]} = ?`).join(", ")} WHERE ${conditions.join(" AND ")}`,
      ...keys.map((k) => toSql(patch[k], TASK_COLUMNS[k][1])),
      ...params,
    );
    return cursor.rowsWritten > 0;
  }

  getTask(id: string): TaskRow | null {
    const row = this.sql.exec("SELECT * FROM tasks WHERE id = ?", id).toArray()[0];
    return row ? taskFromRow(row) : null;
  }

  taskByIdempotencyKey(key: string): TaskRow | null {
    const row = this.sql.exec("SELECT * FROM tasks WHERE idempotency_key = ?", key).toArray()[0];
    return row ? taskFromRow(row) : null;
  }

  /** The oldest eligible queued task of each priority: the next task is always one of these (see order.ts). */
  queueHeads(now: number): TaskRow[] {
    const heads: TaskRow[] = [];
    for (let p = 9; p >= 0; p--) {
      const row = this.sql.exec("SELECT * FROM tasks WHERE status = 'queued' AND priority = ? AND not_before <= ? ORDER BY queued_at, seq LIMIT 1", p, now).toArray()[0];
      if (row) heads.push(taskFromRow(row));
    }
    return heads;
  }

  tasksWithStatus(status: TaskStatus, limit = 1000): TaskRow[] {
    return this.sql.exec("SELECT * FROM tasks WHERE status = ? ORDER BY seq LIMIT ?", status, limit).toArray().map(taskFromRow);
  }

  overdueQueued(now: number): TaskRow[] {
    return this.sql.exec("SELECT * FROM tasks WHERE status = 'queued' AND deadline IS NOT NULL AND deadline <= ?", now).toArray().map(taskFromRow);
  }

  /** When queued work next needs the squad: the earliest backoff end (unless paused) or deadline. */
  nextWake(paused: boolean): number | null {
    const row = this.sql
      .exec<{ ready: number | null; deadline: number | null }>("SELECT MIN(not_before) AS ready, MIN(deadline) AS deadline FROM tasks WHERE status = 'queued'")
      .one();
    const times = [row.deadline, paused ? null : row.ready].filter((t): t is number => t !== null);
    return times.length ? Math.min(...times) : null;
  }

  listTasks(opts: { status?: TaskStatus; limit: number; beforeSeq?: number }): TaskRow[] {
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (opts.status) {
      conditions.push("status = ?");
      params.push(opts.status);
    }
    if (opts.beforeSeq !== undefined) {
      conditions.push("seq < ?");
      params.push(opts.beforeSeq);
    }
    const where = conditions.length ? `WHERE ${conditions.join(" AND ")}` : "";
    return this.sql
      .exec(`SELECT * FROM tasks ${where} ORDER BY seq DESC LIMIT ?`, ...params, opts.limit)
      .toArray()
      .map(taskFromRow);
  }

  taskCounts(): Record<TaskStatus, number> {
    const counts: Record<TaskStatus, number> = { queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
    for (const row of this.sql.exec<{ status: TaskStatus; n: number }>("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status")) counts[row.status] = row.n;
    return counts;
  }

  // events

  appendEvent(squadId: string, type: string, data: unknown, now: number): SquadEvent {
    const seq = this.nextCounter("event");
    this.sql.exec("INSERT INTO events (seq, type, ts, data) VALUES (?, ?, ?, ?)", seq, type, now, JSON.stringify(data ?? null));
    // Keep the replay window bounded: prune by count and age every 100 events.
    if (seq % 100 === 0) this.sql.exec("DELETE FROM events WHERE seq < ? OR ts < ?", pruneBelowSeq(seq), now - REPLAY_MAX_AGE_MS);
    return { type, squadId, seq, ts: new Date(now).toISOString(), data: data ?? null };
  }

  eventsSince(squadId: string, since: number, limit: number): SquadEvent[] {
    return this.sql
      .exec<{ seq: number; type: string; ts: number; data: string }>("SELECT seq, type, ts, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?", since, limit)
      .toArray()
      .map((r) => ({ type: r.type, squadId, seq: r.seq, ts: new Date(r.ts).toISOString(), data: JSON.parse(r.data) }));
  }

  /** Lowest seq still kept and the newest seq; replay from before `oldest` has a gap. */
  eventBounds(): { oldest: number | null; latest: number } {
    const row = this.sql.exec<{ oldest: number | null }>("SELECT MIN(seq) AS oldest FROM events").one();
    return { oldest: row.oldest, latest: Number(this.getMeta("counter:event") ?? 0) };
  }

  // breakers

  breaker(member: string): Breaker {
    const row = this.sql.exec<{ state: string; failures: number; opened_at: number | null }>("SELECT * FROM breakers WHERE member = ?", member).toArray()[0];
    return row ? { state: row.state === "open" ? "open" : "closed", failures: row.failures, openedAt: row.opened_at } : closedBreaker();
  }

  setBreaker(member: string, b: Breaker): void {
    this.sql.exec(
      "INSERT INTO breakers (member, state, failures, opened_at) VALUES (?, ?, ?, ?) ON CONFLICT (member) DO UPDATE SET state = excluded.state, failures = excluded.failures, opened_at = excluded.opened_at",
      member,
      b.state,
      b.failures,
      b.openedAt,
    );
  }
}
