import type { Env } from "../env";
import { attempt, type AttemptDeps } from "./attempts";
import { breakerAllows, recordOutcome } from "./breaker";
import { memberKey, type Policy } from "./config";
import type { Dispatcher } from "./dispatcher";
import { attemptBudget, runMember } from "./member-run";
import { OUTBOX_RETRY_MS, type RunOutbox } from "./run-outbox";
import type { MemberRouter } from "./routing";
import type { Meta, SquadStore, TaskRow } from "./store";
import type { TaskLedger } from "./tasks";

export interface ExecutionHost {
  env: () => Env;
  waitUntil(work: Promise<unknown>): void;
  emit(type: string, data: unknown): void;
  /** The squad's meta; throws not_found once the squad is deleted. */
  meta(): Meta;
  store: SquadStore;
  tasks: TaskLedger;
  router: MemberRouter;
  dispatcher: Dispatcher;
  outbox: RunOutbox;
}

/**
 * Runs one started task: routes it, hands its attempts (attempts.ts) the real effects — member runs in the sandbox-
 * capped environment with their records going to the outbox, breakers, progress rows — and stores how they ended.
 */
export class TaskExecution {
  constructor(private readonly host: ExecutionHost) {}

  async execute(task: TaskRow): Promise<void> {
    const { tasks } = this.host;
    const meta = this.host.meta();
    if (task.deadline !== null && Date.now() >= task.deadline) {
      return tasks.finishRunning(task, { error: { code: "deadline_exceeded", detail: "The deadline passed before the task could run." } });
    }
    const capable = await this.host.router.capable(meta.config, task);
    if (capable.length === 0) {
      return tasks.finishRunning(task, {
        error: { code: "no_capable_member", detail: `No member of this squad offers ${task.capability ? `capability ${task.capability}` : `agent ${task.agent}`}.` },
      });
    }
    try {
      const end = await attempt(task, this.deps(task, meta, capable));
      if (end.kind === "finish") tasks.finishRunning(task, end);
      else if (end.kind === "requeue") tasks.requeue(task, end.attempts, end.error, end.delayMs);
    } finally {
      this.sendRuns(); // after the task's state is saved; the records wait safely in the outbox meanwhile
    }
  }

  /** Flushes held run records to D1 behind the work; if they cannot go now, the alarm comes back for them. */
  sendRuns(): void {
    const { outbox, dispatcher } = this.host;
    if (outbox.held() === 0) return;
    this.host.waitUntil(
      outbox.flush(this.host.env()).then(async (sent) => {
        if (!sent) await dispatcher.armBy(Date.now() + OUTBOX_RETRY_MS);
      }),
    );
  }

  private deps(task: TaskRow, meta: Meta, capable: string[]): AttemptDeps {
    const { store, dispatcher, outbox, tasks, emit } = this.host;
    const policy = meta.config.policy;
    const weights = new Map(meta.config.members.map((m) => [memberKey(m), m.weight]));
    const admitted = () => capable.filter((key) => breakerAllows(store.breaker(key), Date.now(), policy.breakerCooldownMs));
    return {
      capable,
      loads: () => dispatcher.loads.of(admitted().map((key) => ({ key, weight: weights.get(key) ?? 1 }))),
      run: (member) =>
        dispatcher.loads.around(member, () =>
          runMember(dispatcher.runEnv, { member, task, squadId: meta.squadId, budget: attemptBudget(task, policy.taskTimeoutMs, Date.now()), sink: outbox.sink }),
        ),
      claim: (progress) => tasks.progress(task, progress),
      observed: (member, ok) => this.recordBreaker(member, ok, policy),
      failover: (e) => emit("task.retried", { taskId: task.id, attempt: e.attempt, reason: e.reason, failover: true, from: e.from, to: e.to }),
      now: () => Date.now(),
    };
  }

  private recordBreaker(member: string, ok: boolean, policy: Policy): void {
    const { next, transition } = recordOutcome(this.host.store.breaker(member), ok, Date.now(), policy.breakerThreshold);
    this.host.store.setBreaker(member, next);
    if (transition) this.host.emit(`member.breaker.${transition}`, { member, failures: next.failures });
  }
}
