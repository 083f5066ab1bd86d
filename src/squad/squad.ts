import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { AppError, errorCodes, type Outcome } from "../errors";
import { newId } from "../ids";
import { decodeCursor, encodeCursor, type Page } from "../registry/cursor";
import { registryDb, resolveAgentRef } from "../registry/store";
import { executeAgent } from "../runtime/execute";
import { capDynamicWorkers, perObjectCap, SandboxSlots } from "../runtime/dynamic-workers";
import { planWorkflow } from "../workflow/dag";
import { workflowSchema, type Workflow } from "../workflow/definition";
import { alarmRetryDelay, WATCHDOG_MS } from "./alarm-retry";
import { pickMember, pickMembers, type MemberLoad } from "./balance";
import { breakerAllows, recordOutcome } from "./breaker";
import { memberKey, squadConfigSchema, type Member, type Policy, type SquadConfig } from "./config";
import { aggregate, type MemberAnswer } from "./consensus";
import { publishedEventType, type SquadEvent } from "./events";
import { afterFailure } from "./failover";
import { nextTask } from "./order";
import { outcome, problem } from "./outcome";
import { RunCoordinator, type NewTask } from "./run-coordinator";
import { runView, type RunView } from "./runs";
import { SquadStore, taskView, type Meta, type TaskRow } from "./store";
import { answerClient, broadcast, replay } from "./stream";
import { continueTrace } from "../observability/context";
import { publishToHub } from "../observability/event-hub";
import { squadTopic } from "../observability/topics";
import { STREAM_PRINCIPAL_HEADER, issueStreamToken, newStreamKey, verifyStreamToken } from "./stream-token";
import { taskRequestSchema, type TaskError, type TaskStatus, type TaskView } from "./task";

/** One alarm invocation stops starting new work after this long and hands over to a fresh alarm: started attempts (at most 30 s each in the runtime) still finish inside the 15-minute limit of an alarm. */
const LOOP_BUDGET_MS = 9 * 60_000;
const WATCHDOG_REFRESH_MS = 20_000;
/** Extra time the squad gives the runtime to report its own timeout before declaring one itself. */
const TIMEOUT_GRACE_MS = 1000;
/** A task whose attempts were cut off by restarts this many times fails instead of looping forever. */
const MAX_INTERRUPTIONS = 5;
/** Member capabilities come from the registry; cache them briefly so dispatch stays cheap. */
const CAPABILITY_TTL_MS = 15_000;

type ExecOutcome = { ok: true; output: unknown; durationMs: number } | { ok: false; error: TaskError; durationMs: number };

interface Routing {
  capability?: string | null;
  agent?: string | null;
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

export interface SquadStats {
  squadId: string;
  tasks: Record<TaskStatus, number>;
  lastSeq: number;
  members: { member: string; inFlight: number; breaker: "closed" | "open" }[];
}

const agentMatches = (m: Member, agent: string) => (/[@#]/.test(agent) ? memberKey(m) === agent : m.agent === agent);

const errorOf = (err: unknown): TaskError =>
  err instanceof AppError ? { code: err.code, detail: err.detail } : { code: "internal", detail: String((err as Error)?.message ?? err) };

/**
 * One Durable Object per squad. It stores tasks, runs and events in its SQLite storage and dispatches work from its
 * alarm: the alarm handler runs a loop that keeps up to maxConcurrency tasks executing (awaiting the runtime, so the
 * input gate stays open for new submissions and reads), starts the next task whenever one settles, and ends when
 * nothing is running. State is written before and after every execution, so a restart re-queues interrupted work
 * (see recoverInterrupted) and a completion is recorded once (guarded by the task's epoch).
 */
export class Squad extends DurableObject<Env> {
  private readonly store: SquadStore;
  private readonly active = new Set<string>();
  private readonly inFlight = new Map<string, number>();
  private readonly dispatched = new Map<string, number>();
  private readonly runs: RunCoordinator;
  private capabilities: { at: number; byMember: Promise<Map<string, string[]>> } | null = null;
  private looping = false;
  /** Consecutive failed alarm runs, for the retry backoff; an eviction starts it over. */
  private alarmFailures = 0;
  private wakeLoop: (() => void) | null = null;
  /** Every run of this object shares one Dynamic Worker cap (10 per Durable Object): tasks and consensus slots beyond it wait. */
  readonly sandboxes: SandboxSlots;
  private readonly runEnv: Env;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sandboxes = new SandboxSlots(perObjectCap(env));
    this.runEnv = capDynamicWorkers(env, this.sandboxes);
    this.store = new SquadStore(ctx.storage.sql);
    this.runs = new RunCoordinator({
      store: this.store,
      emit: (type, data) => this.emit(type, data),
      enqueue: (task) => this.enqueue(task),
      // Not requireMeta: recovery may settle steps of a squad deleted while they ran.
      defaultRetries: () => this.store.meta()?.config.policy.retries ?? 0,
    });
    void ctx.blockConcurrencyWhile(async () => {
      this.store.migrate();
      if (this.recoverInterrupted()) await ctx.storage.setAlarm(Date.now());
    });
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
      this.capabilities = null;
      await this.kick();
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
        members: meta.config.members.map((m) => {
          const key = memberKey(m);
          return { member: key, inFlight: this.inFlight.get(key) ?? 0, breaker: this.store.breaker(key).state };
        }),
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
      for (const t of queued) this.finishQueued(t, "cancelled", { code: "cancelled", detail: "The squad was deleted." });
      this.store.setMeta("deleted", "1");
      for (const ws of this.ctx.getWebSockets()) {
        try {
          ws.close(1001, "squad deleted");
        } catch {
          // already closed
        }
      }
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
      await this.checkRoutable(meta.config, req, req.consensus?.n ?? 1, "");
      // The registry lookup above let other requests in; the same key may have arrived meanwhile.
      const raced = opts.idempotencyKey ? this.store.taskByIdempotencyKey(opts.idempotencyKey) : null;
      if (raced) return { taskId: raced.id, duplicate: true };
      const task = this.enqueue({
        capability: req.capability ?? null,
        agent: req.agent ?? null,
        input: req.input ?? null,
        priority: req.priority,
        deadline: req.deadline ? Date.parse(req.deadline) : null,
        retries: req.retries ?? meta.config.policy.retries,
        timeoutMs: req.timeoutMs ?? null,
        consensus: req.consensus ?? null,
        actor: opts.actor ?? "system",
        traceId: opts.traceId ?? null,
        ...(opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}),
      });
      await this.kick();
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
      const beforeSeq = query.cursor ? (decodeCursor(query.cursor, ["number"])[0] as number) : undefined;
      const rows = this.store.listTasks({ ...(query.status ? { status: query.status } : {}), limit: query.limit + 1, ...(beforeSeq !== undefined ? { beforeSeq } : {}) });
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1];
      return { items: page.map(taskView), nextCursor: rows.length > query.limit && last ? encodeCursor([last.seq]) : null };
    });
  }

  /** Cancels a queued task; running and finished tasks answer conflict. */
  async cancelTask(taskId: string): Promise<Outcome<TaskView>> {
    return outcome(() => {
      this.requireMeta();
      const task = this.requireTask(taskId);
      if (task.status !== "queued") throw new AppError("conflict", `Task ${taskId} is ${task.status}; only queued tasks can be cancelled.`);
      this.finishQueued(task, "cancelled", { code: "cancelled", detail: "Cancelled by request." });
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
        await this.checkRoutable(meta.config, step, step.consensus?.n ?? 1, `workflow.steps.${i}.`, step.id);
      }
      const runId = newId("run");
      const now = Date.now();
      this.store.insertRun(
        {
          id: runId,
          seq: this.store.nextCounter("run"),
          workflow: req.name,
          version: req.version,
          definition: JSON.stringify(wf),
          input: req.input ?? null,
          status: "running",
          priority: req.priority ?? 5,
          startedAt: now,
          finishedAt: null,
          error: null,
          actor: req.actor,
          traceId: req.traceId ?? null,
        },
        wf.steps.map((s) => s.id),
      );
      this.runs.remember(runId, wf, plan);
      this.emit("run.started", { runId, workflow: req.name, version: req.version, levels: plan.levels, traceId: req.traceId ?? null });
      this.runs.advance(runId);
      await this.kick();
      return { runId };
    });
  }

  async getRun(runId: string): Promise<Outcome<RunView>> {
    return outcome(() => {
      this.requireMeta();
      const run = this.store.getRun(runId);
      if (!run) throw new AppError("not_found", `No run ${runId} in this squad.`);
      const { wf, plan } = this.runs.planFor(runId, run.definition);
      return runView(run, wf, plan, this.store.steps(runId), (id) => this.store.getTask(id));
    });
  }

  async listRuns(query: { limit: number; cursor?: string }): Promise<Outcome<Page<Omit<RunView, "steps" | "levels">>>> {
    return outcome(() => {
      this.requireMeta();
      const beforeSeq = query.cursor ? (decodeCursor(query.cursor, ["number"])[0] as number) : undefined;
      const rows = this.store.listRuns(query.limit + 1, beforeSeq);
      const page = rows.slice(0, query.limit);
      const last = page[page.length - 1];
      return {
        items: page.map((r) => {
          const { steps: _steps, levels: _levels, ...summary } = runView(r, null, null, [], () => null);
          return summary;
        }),
        nextCursor: rows.length > query.limit && last ? encodeCursor([last.seq]) : null,
      };
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
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return problem(426, "upgrade-required", "Upgrade required", "Connect with a WebSocket upgrade.");
    const meta = this.store.meta();
    if (!meta || meta.deleted) return problem(404, "not-found", errorCodes.not_found.title, "No such squad.");
    const url = new URL(request.url);
    const token = url.searchParams.get("token");
    const principal = request.headers.get(STREAM_PRINCIPAL_HEADER) ?? (token ? await verifyStreamToken(this.store.getMeta("stream_key")!, `squad:${meta.squadId}`, token) : null);
    if (!principal) return problem(401, "unauthorized", errorCodes.unauthorized.title, "The stream token is invalid, expired or for another squad.");
    const sinceText = url.searchParams.get("since");
    const since = sinceText === null ? null : Number(sinceText);
    if (since !== null && !(Number.isInteger(since) && since >= 0)) return problem(400, "bad-request", errorCodes.bad_request.title, "since must be a non-negative integer seq.");
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ principal, connectedAt: Date.now() });
    if (since !== null) replay(server, this.store, meta.squadId, since);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const meta = this.store.meta();
    if (meta) answerClient(ws, message, this.store, meta.squadId);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      ws.close(code === 1005 ? 1000 : code, reason);
    } catch {
      // the peer is gone already
    }
  }

  override async webSocketError(): Promise<void> {
    // A broken socket is dropped on the next failed send.
  }

  // ---- dispatch loop

  override async alarm(): Promise<void> {
    // Re-armed before the risky work: whatever it throws, the loop wakes again. Failures are caught and retried
    // on our own backoff, since Cloudflare retries a throwing alarm only 6 times and then drops it.
    await this.ctx.storage.setAlarm(Date.now() + WATCHDOG_MS);
    try {
      await this.pump();
      this.alarmFailures = 0;
    } catch (err) {
      this.alarmFailures++;
      console.error(JSON.stringify({ at: "squad.alarm", failures: this.alarmFailures, error: String((err as Error)?.message ?? err) }));
      await this.ctx.storage.setAlarm(Date.now() + alarmRetryDelay(this.alarmFailures));
    }
  }

  /** Starts the dispatch loop (via the alarm, which survives eviction) or nudges the one already running. */
  private async kick(): Promise<void> {
    if (this.looping) this.wake();
    else await this.ctx.storage.setAlarm(Date.now());
  }

  private wake(): void {
    const wake = this.wakeLoop;
    this.wakeLoop = null;
    wake?.();
  }

  private async pump(): Promise<void> {
    if (this.looping) return this.wake();
    this.looping = true;
    const began = Date.now();
    let watchdogAt = 0;
    try {
      for (;;) {
        const meta = this.store.meta();
        if (!meta || meta.deleted) break;
        const now = Date.now();
        // If this instance dies mid-loop, this alarm restarts the object (whose constructor re-queues cut-off work);
        // the finally below replaces it when the loop ends normally.
        if (now - watchdogAt > WATCHDOG_REFRESH_MS) {
          watchdogAt = now;
          void this.ctx.storage.setAlarm(now + WATCHDOG_MS);
        }
        for (const t of this.store.overdueQueued(now)) this.finishQueued(t, "failed", { code: "deadline_exceeded", detail: "The deadline passed before the task could run." });
        if (!meta.config.policy.paused && now - began < LOOP_BUDGET_MS) this.fillSlots(meta.config.policy, now);
        if (this.active.size === 0) break;
        await new Promise<void>((resolve) => (this.wakeLoop = resolve));
      }
    } finally {
      this.wakeLoop = null;
      this.looping = false;
      await this.scheduleAlarm();
    }
  }

  private async scheduleAlarm(): Promise<void> {
    const meta = this.store.meta();
    const wake = meta && !meta.deleted ? this.store.nextWake(meta.config.policy.paused) : null;
    if (wake === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.max(wake, Date.now()));
  }

  private fillSlots(policy: Policy, now: number): void {
    while (this.active.size < policy.maxConcurrency) {
      const next = nextTask(this.store.queueHeads(now), now, policy.agingMs);
      if (!next) return;
      this.begin(next, now);
    }
  }

  private begin(queued: TaskRow, now: number): void {
    const task: TaskRow = { ...queued, status: "running", epoch: queued.epoch + 1, startedAt: queued.startedAt ?? now };
    this.store.updateTask(task.id, { status: "running", epoch: task.epoch, startedAt: task.startedAt }, { status: "queued" });
    if (queued.startedAt === null) {
      this.emit("task.started", { taskId: task.id, priority: task.priority, ...(task.runId ? { runId: task.runId, stepId: task.stepId } : {}) });
      if (task.runId) this.emit("run.step.started", { runId: task.runId, stepId: task.stepId, taskId: task.id });
    }
    this.active.add(task.id);
    const work = this.execute(task)
      .catch((err) => {
        console.error(JSON.stringify({ level: "error", where: "squad.execute", taskId: task.id, message: String(err), stack: (err as Error)?.stack }));
        try {
          this.finishRunning(task, { error: { code: "internal", detail: "The squad hit an unexpected error running this task." } });
        } catch {
          // storage is gone (the object is being torn down); recovery re-queues the task on the next start
        }
      })
      .finally(() => {
        this.active.delete(task.id);
        this.wake();
      });
    this.ctx.waitUntil(work);
  }

  private async execute(task: TaskRow): Promise<void> {
    const meta = this.requireMeta();
    const policy = meta.config.policy;
    if (task.deadline !== null && Date.now() >= task.deadline) {
      return this.finishRunning(task, { error: { code: "deadline_exceeded", detail: "The deadline passed before the task could run." } });
    }
    const capable = this.capableMembers(meta.config, await this.memberCapabilities(meta.config), task);
    if (capable.length === 0) {
      return this.finishRunning(task, { error: { code: "no_capable_member", detail: `No member of this squad offers ${task.capability ? `capability ${task.capability}` : `agent ${task.agent}`}.` } });
    }
    if (task.consensus) return this.executeConsensus(task, capable, policy);
    return this.executeSingle(task, capable, policy);
  }

  private async executeSingle(task: TaskRow, capable: string[], policy: Policy): Promise<void> {
    const tried = new Set(task.tried);
    let attempts = task.attempts;
    let member = pickMember(this.loads(capable, policy), tried)?.key;
    let lastError: TaskError = { code: "circuit_open", detail: "Every capable member's breaker is open." };
    for (;;) {
      if (member) {
        attempts++;
        tried.add(member);
        if (!this.store.updateTask(task.id, { attempts, member, tried: [...tried] }, { status: "running", epoch: task.epoch })) return;
        const result = await this.runOn(member, task, policy);
        this.recordBreaker(member, result.ok, policy);
        if (result.ok) return this.finishRunning(task, { output: result.output, attempts, member });
        lastError = result.error;
      }
      const next = afterFailure({ candidates: this.loads(capable, policy), tried, round: task.round, retries: task.retries, now: Date.now(), deadline: task.deadline });
      if (next.action === "failover") {
        this.emit("task.retried", { taskId: task.id, attempt: attempts + 1, reason: lastError.code, failover: true, from: member ?? null, to: next.member });
        member = next.member;
        continue;
      }
      if (next.action === "retry") return this.requeue(task, attempts, lastError, next.delayMs);
      return this.finishRunning(task, { error: lastError, attempts });
    }
  }

  private async executeConsensus(task: TaskRow, capable: string[], policy: Policy): Promise<void> {
    const { n, strategy } = task.consensus!;
    if (capable.length < n) {
      return this.finishRunning(task, { error: { code: "insufficient_members", detail: `Consensus needs ${n} distinct capable members; the squad has ${capable.length}.` } });
    }
    const picked = pickMembers(this.loads(capable, policy), n);
    if (picked.length < n) {
      const error = { code: "circuit_open", detail: `Only ${picked.length} of the ${n} members consensus needs have a closed breaker.` };
      const next = afterFailure({ candidates: [], tried: new Set(), round: task.round, retries: task.retries, now: Date.now(), deadline: task.deadline });
      return next.action === "retry" ? this.requeue(task, task.attempts, error, next.delayMs) : this.finishRunning(task, { error });
    }
    const used = new Set(picked.map((m) => m.key));
    const answers: MemberAnswer[] = [];
    let attempts = task.attempts;
    let superseded = false;
    const runSlot = async (member: string): Promise<void> => {
      attempts++;
      if (superseded || !this.store.updateTask(task.id, { attempts, tried: [...used] }, { status: "running", epoch: task.epoch })) {
        superseded = true;
        return;
      }
      const result = await this.runOn(member, task, policy);
      this.recordBreaker(member, result.ok, policy);
      answers.push({ member, ok: result.ok, durationMs: result.durationMs, arrival: answers.length, ...(result.ok ? { output: result.output } : { error: result.error }) });
      if (result.ok) return;
      const replacement = pickMember(this.loads(capable, policy), used);
      if (!replacement) return;
      used.add(replacement.key);
      this.emit("task.retried", { taskId: task.id, attempt: attempts + 1, reason: result.error.code, failover: true, from: member, to: replacement.key });
      await runSlot(replacement.key);
    };
    await Promise.all(picked.map((m) => runSlot(m.key)));
    if (superseded) return;
    const verdict = aggregate(strategy, n, answers);
    const recorded = answers.map(({ arrival: _arrival, ...a }) => a);
    if (verdict.decided) {
      return this.finishRunning(task, { output: verdict.output, attempts, member: verdict.agreeing[0]!, answers: recorded, agreement: verdict.agreement });
    }
    if (verdict.reason === "too_few_answers" && task.round < task.retries) {
      const next = afterFailure({ candidates: [], tried: new Set(), round: task.round, retries: task.retries, now: Date.now(), deadline: task.deadline });
      if (next.action === "retry") return this.requeue(task, attempts, { code: "no_consensus", detail: verdict.detail }, next.delayMs);
    }
    return this.finishRunning(task, { error: { code: "no_consensus", detail: verdict.detail }, attempts, answers: recorded, agreement: verdict.agreement });
  }

  /** One execution on one member, bounded by the task's timeout even if the runtime never answers. */
  private async runOn(member: string, task: TaskRow, policy: Policy): Promise<ExecOutcome> {
    const started = Date.now();
    const budget = Math.max(10, Math.min(task.timeoutMs ?? policy.taskTimeoutMs, task.deadline !== null ? task.deadline - started : Number.MAX_SAFE_INTEGER));
    this.inFlight.set(member, (this.inFlight.get(member) ?? 0) + 1);
    this.dispatched.set(member, (this.dispatched.get(member) ?? 0) + 1);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timedOut = new Promise<ExecOutcome>((resolve) => {
        timer = setTimeout(
          () => resolve({ ok: false, error: { code: "agent_timeout", detail: `No answer from ${member} within ${budget} ms.` }, durationMs: Date.now() - started }),
          budget + TIMEOUT_GRACE_MS,
        );
      });
      // The run joins the task's trace (AsyncLocalStorage does not cross the RPC that submitted it).
      const run = continueTrace(task.traceId, () => executeAgent(this.runEnv, {
        agent: member,
        input: task.input,
        actor: task.actor,
        source: `squad:${this.requireMeta().squadId}`,
        sessionId: task.id,
        timeoutMs: budget,
      })).then<ExecOutcome>((r) =>
        r.status === "succeeded"
          ? { ok: true, output: r.output ?? null, durationMs: Date.now() - started }
          : { ok: false, error: { code: r.error?.code ?? "agent_failed", detail: r.error?.detail ?? "The agent run failed." }, durationMs: Date.now() - started },
      );
      return await Promise.race([run, timedOut]);
    } catch (err) {
      return { ok: false, error: errorOf(err), durationMs: Date.now() - started };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      this.inFlight.set(member, (this.inFlight.get(member) ?? 1) - 1);
    }
  }

  private recordBreaker(member: string, ok: boolean, policy: Policy): void {
    const { next, transition } = recordOutcome(this.store.breaker(member), ok, Date.now(), policy.breakerThreshold);
    this.store.setBreaker(member, next);
    if (transition) this.emit(`member.breaker.${transition}`, { member, failures: next.failures });
  }

  private loads(capable: string[], policy: Policy): MemberLoad[] {
    const now = Date.now();
    const weights = new Map(this.requireMeta().config.members.map((m) => [memberKey(m), m.weight]));
    return capable
      .filter((key) => breakerAllows(this.store.breaker(key), now, policy.breakerCooldownMs))
      .map((key) => ({ key, weight: weights.get(key) ?? 1, inFlight: this.inFlight.get(key) ?? 0, dispatched: this.dispatched.get(key) ?? 0 }));
  }

  private capableMembers(config: SquadConfig, caps: Map<string, string[]>, routing: Routing): string[] {
    return config.members
      .filter((m) => (routing.capability ? (caps.get(memberKey(m)) ?? []).includes(routing.capability) : agentMatches(m, routing.agent ?? "")))
      .map(memberKey);
  }

  private memberCapabilities(config: SquadConfig): Promise<Map<string, string[]>> {
    if (this.capabilities && Date.now() - this.capabilities.at < CAPABILITY_TTL_MS) return this.capabilities.byMember;
    // One lookup shared by every caller meanwhile: 32 tasks starting at once must not each resolve every member.
    this.capabilities = { at: Date.now(), byMember: this.lookupCapabilities(config) };
    return this.capabilities.byMember;
  }

  private async lookupCapabilities(config: SquadConfig): Promise<Map<string, string[]>> {
    const db = registryDb(this.env.DB);
    const entries = await Promise.all(
      config.members.map(async (m): Promise<[string, string[]]> => {
        try {
          const { version } = await resolveAgentRef(db, memberKey(m));
          return [memberKey(m), version.spec.capabilities];
        } catch {
          return [memberKey(m), []]; // a retired or missing agent offers nothing
        }
      }),
    );
    return new Map(entries);
  }

  /** Refuses work no member could take, naming the field (and the workflow step). */
  private async checkRoutable(config: SquadConfig, routing: Routing, needed: number, pathPrefix: string, step?: string): Promise<void> {
    const capable = this.capableMembers(config, routing.capability ? await this.memberCapabilities(config) : new Map(), routing);
    if (capable.length >= needed) return;
    const field = routing.capability ? "capability" : "agent";
    const what = routing.capability ? `capability ${routing.capability}` : `agent ${routing.agent}`;
    const message = capable.length === 0 ? `no member of this squad offers ${what}` : `consensus needs ${needed} capable members but only ${capable.length} offer ${what}`;
    throw new AppError("validation_failed", `${step ? `Step ${step}: ` : ""}${message}.`, {
      errors: [{ path: `${pathPrefix}${capable.length === 0 ? field : "consensus.n"}`, message }],
    });
  }

  // ---- task state changes (each synchronous, hence atomic)

  private enqueue(t: NewTask): TaskRow {
    const now = Date.now();
    const row: TaskRow = {
      id: newId("tsk", now),
      seq: this.store.nextCounter("task"),
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
    this.store.insertTask(row);
    this.emit("task.queued", {
      taskId: row.id,
      priority: row.priority,
      capability: row.capability,
      agent: row.agent,
      traceId: row.traceId,
      ...(row.runId ? { runId: row.runId, stepId: row.stepId } : {}),
    });
    return row;
  }

  private requeue(task: TaskRow, attempts: number, error: TaskError, delayMs: number): void {
    const notBefore = Date.now() + delayMs;
    const requeued = this.store.updateTask(task.id, { status: "queued", attempts, round: task.round + 1, tried: [], notBefore, error }, { status: "running", epoch: task.epoch });
    if (requeued) this.emit("task.retried", { taskId: task.id, attempt: attempts + 1, reason: error.code, failover: false, delayMs, round: task.round + 1 });
  }

  private finishRunning(
    task: TaskRow,
    result: { output?: unknown; error?: TaskError; attempts?: number; member?: string; answers?: TaskRow["answers"]; agreement?: number },
  ): void {
    const status = result.error ? "failed" : "completed";
    const patch: Partial<TaskRow> = {
      status,
      finishedAt: Date.now(),
      output: result.error ? null : (result.output ?? null),
      error: result.error ?? null,
      ...(result.attempts !== undefined ? { attempts: result.attempts } : {}),
      ...(result.member ? { member: result.member } : {}),
      ...(result.answers ? { answers: result.answers } : {}),
      ...(result.agreement !== undefined ? { agreement: result.agreement } : {}),
    };
    if (!this.store.updateTask(task.id, patch, { status: "running", epoch: task.epoch })) return; // superseded: recorded once only
    this.settled(this.store.getTask(task.id)!);
  }

  private finishQueued(task: TaskRow, status: "cancelled" | "failed", error: TaskError): void {
    if (!this.store.updateTask(task.id, { status, finishedAt: Date.now(), error }, { status: "queued" })) return;
    this.settled(this.store.getTask(task.id)!);
  }

  /** Announces a finished task and, for a workflow step, records the step and advances its run. */
  private settled(t: TaskRow): void {
    const common = { taskId: t.id, attempts: t.attempts, member: t.member, ...(t.runId ? { runId: t.runId, stepId: t.stepId } : {}) };
    if (t.status === "completed") this.emit("task.completed", { ...common, output: t.output, ...(t.consensus ? { agreement: t.agreement, answers: t.answers } : {}) });
    else if (t.status === "cancelled") this.emit("task.cancelled", common);
    else this.emit("task.failed", { ...common, error: t.error, ...(t.consensus ? { agreement: t.agreement, answers: t.answers } : {}) });
    this.runs.stepSettled(t);
  }

  /**
   * A fresh instance has no executions in memory, so every `running` row was cut off by eviction or a crash:
   * re-queue it (keeping its age and priority) without spending a retry, unless restarts keep killing it.
   */
  private recoverInterrupted(): boolean {
    const running = this.store.tasksWithStatus("running", 100_000);
    for (const t of running) {
      if (t.interruptions + 1 > MAX_INTERRUPTIONS) {
        this.finishRunning(t, { error: { code: "interrupted", detail: `The squad restarted during this task ${MAX_INTERRUPTIONS} times.` } });
        continue;
      }
      if (this.store.updateTask(t.id, { status: "queued", notBefore: Date.now(), interruptions: t.interruptions + 1, tried: [] }, { status: "running", epoch: t.epoch })) {
        this.emit("task.retried", { taskId: t.id, attempt: t.attempts + 1, reason: "interrupted", failover: false });
      }
    }
    return running.length > 0 || this.store.nextWake(false) !== null;
  }

  // ---- events

  private emit(type: string, data: unknown): SquadEvent {
    const event = this.store.appendEvent(this.store.getMeta("squad_id") ?? "", type, data, Date.now());
    broadcast(this.ctx.getWebSockets(), event);
    publishToHub(this.env, squadTopic(event.squadId), event.type, event.data, event.seq, Date.parse(event.ts));
    return event;
  }

  // ---- helpers

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
