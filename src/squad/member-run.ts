import type { Env } from "../env";
import { AppError } from "../errors";
import { continueTrace } from "../observability/context";
import { executeAgent, type RunSink } from "../runtime/execute";
import { settledWithin } from "../runtime/limits";
import type { MemberOutcome } from "./attempts";
import type { TaskRow } from "./store";
import type { TaskError } from "./task";

/** Extra time the squad gives the runtime to report its own timeout before declaring one itself. */
const TIMEOUT_GRACE_MS = 1000;

const errorOf = (err: unknown): TaskError =>
  err instanceof AppError ? { code: err.code, detail: err.detail } : { code: "internal", detail: String((err as Error)?.message ?? err) };

/** The wall-clock budget of one attempt: the task's (or policy's) timeout, cut short by its deadline. Pure. */
export const attemptBudget = (task: Pick<TaskRow, "timeoutMs" | "deadline">, policyTimeoutMs: number, now: number) =>
  Math.max(10, Math.min(task.timeoutMs ?? policyTimeoutMs, task.deadline !== null ? task.deadline - now : Number.MAX_SAFE_INTEGER));

/**
 * One execution of a task on one member, bounded by the budget even if the runtime never answers. Its run record
 * goes to `sink` (the squad's outbox), so nothing is written to D1 before the attempt answers. Never throws.
 */
export async function runMember(env: Env, opts: { member: string; task: TaskRow; squadId: string; budget: number; sink: RunSink }): Promise<MemberOutcome> {
  const { member, task, budget } = opts;
  const started = Date.now();
  try {
    // The run joins the task's trace (AsyncLocalStorage does not cross the RPC that submitted it).
    const request = { agent: member, input: task.input, actor: task.actor, source: `squad:${opts.squadId}`, sessionId: task.id, timeoutMs: budget };
    const run = continueTrace(task.traceId, () => executeAgent(env, request, opts.sink)).then<MemberOutcome>((r) =>
      r.status === "succeeded"
        ? { ok: true, output: r.output ?? null, durationMs: Date.now() - started }
        : { ok: false, error: { code: r.error?.code ?? "agent_failed", detail: r.error?.detail ?? "The agent run failed." }, durationMs: Date.now() - started },
    );
    const outcome = await settledWithin(run, budget + TIMEOUT_GRACE_MS);
    if (outcome !== "timeout") return outcome;
    return { ok: false, error: { code: "agent_timeout", detail: `No answer from ${member} within ${budget} ms.` }, durationMs: Date.now() - started };
  } catch (err) {
    return { ok: false, error: errorOf(err), durationMs: Date.now() - started };
  }
}
