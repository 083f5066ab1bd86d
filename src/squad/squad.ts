import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { AppError, type Outcome } from "../errors";
import type { Page } from "../registry/cursor";
import { planWorkflow } from "../workflow/dag";
import { workflowSchema } from "../workflow/definition";
import { publishToHub } from "../observability/event-hub";
import { squadTopic } from "../observability/topics";
import { memberKey, squadConfigSchema } from "./config";
import { Dispatcher } from "./dispatcher";
import { TaskExecution } from "./execution";
import { publishedEventType, type SquadEvent } from "./events";
import { outcome } from "./outcome";
import { beforeSeq, pageOf } from "./paging";
import { RunCoordinator, type RunRequest } from "./run-coordinator";
import { RunOutbox } from "./run-outbox";
import { MemberRouter } from "./routing";
import { runView, type RunSummary, type RunView } from "./runs";
import { SquadStore, type Meta, type TaskRow } from "./store";
import { acceptStream, answerClient, broadcast, closeAll } from "./stream";
import { issueStreamToken, newStreamKey } from "./stream-token";
import { taskRequestSchema, type TaskStatus, type TaskView } from "./task";
import { requestedTask, TaskLedger, taskView } from "./tasks";

export type { RunRequest } from "./run-coordinator";

export interface SquadStats {
  squadId: string;
  tasks: Record<TaskStatus, number>;
  lastSeq: number;
  members: { member: string; inFlight: number; breaker: "closed" | "open" }[];
}

/**
 * One Durable Object per squad: a thin shell. Its SQLite storage holds tasks, runs, events and held run records
 * (store.ts, run-outbox.ts); task transitions are tasks.ts, a task's attempts attempts.ts, the alarm-driven loop
 * dispatcher.ts, workflow runs run-coordinator.ts. State is written before and after every execution, so a restart
 * re-queues interrupted work and a completion is recorded once (guarded by the task's epoch).
 */
export class Squad extends DurableObject<Env> {
  private readonly store: SquadStore;
  private readonly tasks: TaskLedger;
  private readonly runs: RunCoordinator;
  private readonly router: MemberRouter;
  private readonly dispatcher: Dispatcher;
  private readonly outbox: RunOutbox;
  private readonly execution: TaskExecution;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new SquadStore(ctx.storage.sql);
    this.outbox = new RunOutbox(ctx.storage.sql);
    this.router = new MemberRouter(() => this.env.DB);
    this.tasks = new TaskLedger(
      this.store,
      (type, data) => this.emit(type, data),
      (t) => this.runs.stepSettled(t),
    );
    this.runs = new RunCoordinator({
      store: this.store,
      emit: (type, data) => this.emit(type, data),
      enqueue: (task) => this.tasks.enqueue(task),
      // Not requireMeta: recovery may settle steps of a squad deleted while they ran.
      defaultRetries: () => this.store.meta()?.config.policy.retries ?? 0,
    });
    this.dispatcher = new Dispatcher(env, {
      storage: ctx.storage,
      waitUntil: (work) => ctx.waitUntil(work),
      policy: () => {
        const meta = this.store.meta();
        return meta && !meta.deleted ? meta.config.policy : null;
      },
      queueHeads: (now) => this.store.queueHeads(now),
      expire: (now) => this.tasks.expire(now),
      start: (queued, now) => this.tasks.start(queued, now),
      execute: (task) => this.execution.execute(task),
      crashed: (task, err) => this.tasks.crashed(task, err),
      nextWake: () => {
        const meta = this.store.meta();
        const due = [meta && !meta.deleted ? this.store.nextWake(meta.config.policy.paused) : null, this.outbox.nextWake(Date.now())].filter((w) => w !== null);
        return due.length ? Math.min(...due) : null;
      },
    });
    this.execution = new TaskExecution({
      env: () => this.env,
      waitUntil: (work) => ctx.waitUntil(work),
      emit: (type, data) => this.emit(type, data),
      meta: () => this.requireMeta(),
      ...{ store: this.store, tasks: this.tasks, router: this.router, dispatcher: this.dispatcher, outbox: this.outbox },
    });
    void ctx.blockConcurrencyWhile(async () => {
      this.store.migrate();
      if (this.tasks.recoverInterrupted() || this.outbox.held() > 0) await ctx.storage.setAlarm(Date.now());
    });
  }

  /** The per-object Dynamic Workers cap every member run shares (tests read its peak). */
  get sandboxes() {
    return this.dispatcher.sandboxes;
  }

  // ---- configuration

  async configure(squadId: string, input: unknown): Promise<Outcome<{ created: boolean }>> {
    return outcome(async () => {
      const config = squadConfigSchema.parse(input);
      const meta = this.store.meta();
      if (meta && meta.squadId !== squadId) throw new AppError("conflict", "This object belongs to another squad.");
      if (meta?.deleted) throw new AppError("not_found", `No squad ${squadId}.`);
      this.store.setMeta("squad_id", squadId);
      this.store.setMeta("config", JSON.stringify(config));
      if (!this.store.getMeta("stream_key")) this.store.setMeta("stream_key", newStreamKey());
      this.router.reset();
      await this.dispatcher.kick();
      return { created: !meta };
    });
  }

  async stats(): Promise<Outcome<SquadStats>> {
    return outcome(() => {
      const meta = this.requireMeta();
      return {
        squadId: meta.squadId,
        tasks: this.store.taskCounts(),
        lastSeq: this.store.eventBounds().latest,
        members: meta.config.members.map(memberKey).map((key) => ({ member: key, inFlight: this.dispatcher.loads.running(key), breaker: this.store.breaker(key).state })),
      };
    });
  }

  /** Deletes the squad: queued tasks are cancelled, streams closed; executions already running finish. Idempotent, so a retried DELETE can finish removing the D1 row. */
  async destroy(): Promise<Outcome<{ cancelled: number }>> {
    return outcome(async () => {
      const meta = this.store.meta();
      if (!meta) throw new AppError("not_found", "No such squad.");
      if (meta.deleted) return { cancelled: 0 };
      const queued = this.store.tasksWithStatus("queued", 100_000);
      for (const t of queued) this.tasks.finishQueued(t, "cancelled", { code: "cancelled", detail: "The squad was deleted." });
      this.store.setMeta("deleted", "1");
      closeAll(this.ctx.getWebSockets(), 1001, "squad deleted");
      await this.ctx.storage.deleteAlarm();
      return { cancelled: queued.length };
    });
  }

  // ---- tasks

  async submitTask(body: unknown, opts: { idempotencyKey?: string; actor?: string; traceId?: string } = {}): Promise<Outcome<{ taskId: string; duplicate: boolean }>> {
    return outcome(async () => {
      const req = taskRequestSchema.parse(body);
      const meta = this.requireMeta();
      const existing = opts.idempotencyKey ? this.store.taskByIdempotencyKey(opts.idempotencyKey) : null;
      if (existing) return { taskId: existing.id, duplicate: true };
      await this.router.check(meta.config, req, req.consensus?.n ?? 1, "");
      // The registry lookup above let other requests in; the same key may have arrived meanwhile.
      const raced = opts.idempotencyKey ? this.store.taskByIdempotencyKey(opts.idempotencyKey) : null;
      if (raced) return { taskId: raced.id, duplicate: true };
      const task = this.tasks.enqueue(requestedTask(req, meta.config.policy.retries, opts));
      await this.dispatcher.kick();
      return { taskId: task.id, duplicate: false };
    });
  }

  async getTask(taskId: string): Promise<Outcome<TaskView>> {
    return outcome(() => {
      this.requireMeta();
      return taskView(this.requireTask(taskId));
    });
  }

  async listTasks(query: { status?: TaskStatus; limit: number; cursor?: string }): Promise<Outcome<Page<TaskView>>> {
    return outcome(() => {
      this.requireMeta();
      const before = beforeSeq(query.cursor);
      const rows = this.store.listTasks({ ...(query.status ? { status: query.status } : {}), limit: query.limit + 1, ...(before !== undefined ? { beforeSeq: before } : {}) });
      return pageOf(rows, query.limit, taskView);
    });
  }

  /** Cancels a queued task; running and finished tasks answer conflict. */
  async cancelTask(taskId: string): Promise<Outcome<TaskView>> {
    return outcome(() => {
      this.requireMeta();
      const task = this.requireTask(taskId);
      if (task.status !== "queued") throw new AppError("conflict", `Task ${taskId} is ${task.status}; only queued tasks can be cancelled.`);
      this.tasks.finishQueued(task, "cancelled", { code: "cancelled", detail: "Cancelled by request." });
      return taskView(this.requireTask(taskId));
    });
  }

  // ---- workflow runs

  async startRun(req: RunRequest): Promise<Outcome<{ runId: string }>> {
    return outcome(async () => {
      const meta = this.requireMeta();
      const wf = workflowSchema.parse(req.workflow);
      const plan = planWorkflow(wf);
      const seen = new Set<string>();
      for (const [i, step] of wf.steps.entries()) {
        const key = `${step.capability ?? ""}|${step.agent ?? ""}|${step.consensus?.n ?? 1}`;
        if (seen.has(key)) continue;
        seen.add(key);
        await this.router.check(meta.config, step, step.consensus?.n ?? 1, `workflow.steps.${i}.`, step.id);
      }
      const runId = this.runs.start(req, wf, plan);
      await this.dispatcher.kick();
      return { runId };
    });
  }

  async getRun(runId: string): Promise<Outcome<RunView>> {
    return outcome(() => {
      this.requireMeta();
      const run = this.store.runs.get(runId);
      if (!run) throw new AppError("not_found", `No run ${runId} in this squad.`);
      const { wf, plan } = this.runs.planFor(runId, run.definition);
      return runView(run, wf, plan, this.store.runs.steps(runId), (id) => this.store.getTask(id));
    });
  }

  async listRuns(query: { limit: number; cursor?: string }): Promise<Outcome<Page<RunSummary>>> {
    return outcome(() => {
      this.requireMeta();
      return pageOf(this.store.runs.list(query.limit + 1, beforeSeq(query.cursor)), query.limit, (r) => {
        const { steps: _steps, levels: _levels, ...summary } = runView(r, null, null, [], () => null);
        return summary;
      });
    });
  }

  // ---- events and streams

  async events(since: number, limit: number): Promise<Outcome<{ items: SquadEvent[]; nextCursor: string | null; oldestSeq: number | null; lastSeq: number }>> {
    return outcome(() => {
      const meta = this.requireMeta();
      const items = this.store.eventsSince(meta.squadId, since, limit);
      const bounds = this.store.eventBounds();
      const last = items[items.length - 1];
      return { items, nextCursor: last && last.seq < bounds.latest ? String(last.seq) : null, oldestSeq: bounds.oldest, lastSeq: bounds.latest };
    });
  }

  /** Lets other areas (e.g. messaging topics) publish an event into this squad's stream. */
  async publish(type: string, data: unknown): Promise<Outcome<{ seq: number }>> {
    return outcome(() => {
      this.requireMeta();
      return { seq: this.emit(publishedEventType.parse(type), data).seq };
    });
  }

  async streamToken(principal: string): Promise<Outcome<{ token: string; expiresAt: string }>> {
    return outcome(() => {
      const meta = this.requireMeta();
      return issueStreamToken(this.store.getMeta("stream_key")!, `squad:${meta.squadId}`, principal);
    });
  }

  /** Only the WebSocket upgrade of /api/v1/squads/{id}/stream arrives here. */
  override async fetch(request: Request): Promise<Response> {
    const meta = this.store.meta();
    return acceptStream(this.ctx, this.store, meta && !meta.deleted ? meta.squadId : null, request);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const meta = this.store.meta();
    if (meta) answerClient(ws, message, this.store, meta.squadId);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    closeAll([ws], code === 1005 ? 1000 : code, reason);
  }

  /** A broken socket is dropped on the next failed send. */
  override async webSocketError(): Promise<void> {}

  override async alarm(): Promise<void> {
    this.execution.sendRuns(); // records a crash left in the outbox
    await this.dispatcher.alarm();
  }

  private emit(type: string, data: unknown): SquadEvent {
    const event = this.store.appendEvent(this.store.getMeta("squad_id") ?? "", type, data, Date.now());
    broadcast(this.ctx.getWebSockets(), event);
    publishToHub(this.env, squadTopic(event.squadId), event.type, event.data, event.seq, Date.parse(event.ts));
    return event;
  }

  private requireMeta(): Meta {
    const meta = this.store.meta();
    if (!meta || meta.deleted) throw new AppError("not_found", "No such squad.");
    return meta;
  }

  private requireTask(taskId: string): TaskRow {
    const task = this.store.getTask(taskId);
    if (!task) throw new AppError("not_found", `No task ${taskId} in this squad.`);
    return task;
  }
}
