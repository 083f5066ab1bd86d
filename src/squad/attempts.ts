import { pickMember, pickMembers, type MemberLoad } from "./balance";
import { aggregate, type MemberAnswer } from "./consensus";
import { afterFailure } from "./failover";
import type { TaskError } from "./task";
import type { TaskEnd } from "./tasks";

/**
 * A task's attempts across members: failover, rounds and consensus. The member run and every storage write are
 * injected (AttemptDeps), so this is plain logic over plain data: the squad object supplies the effects, tests fakes.
 */
export type MemberOutcome = { ok: true; output: unknown; durationMs: number } | { ok: false; error: TaskError; durationMs: number };

/** How the attempts ended: settle the task, queue it for a new round after a delay, or nothing (another epoch owns it). */
export type AttemptEnd = ({ kind: "finish" } & TaskEnd) | { kind: "requeue"; attempts: number; error: TaskError; delayMs: number } | { kind: "superseded" };

export interface AttemptTask {
  id: string;
  attempts: number;
  tried: readonly string[];
  round: number;
  retries: number;
  deadline: number | null;
  consensus: { n: number; strategy: "majority" | "unanimous" | "first" } | null;
}

export interface AttemptDeps {
  /** Every member able to take the task, breaker open or not. */
  capable: readonly string[];
  /** The capable members whose breaker admits work, with their current load. */
  loads(): MemberLoad[];
  /** Runs the task on one member. Never throws: failures come back as outcomes. */
  run(member: string): Promise<MemberOutcome>;
  /** Stores that an attempt begins; false when the task was superseded, and then nothing more is recorded. */
  claim(progress: { attempts: number; tried: string[]; member?: string }): boolean;
  /** Feeds one member's result to its breaker. */
  observed(member: string, ok: boolean): void;
  /** Announces a failover from one member to another. */
  failover(e: { attempt: number; reason: string; from: string | null; to: string }): void;
  now(): number;
}

export const attempt = (task: AttemptTask, deps: AttemptDeps): Promise<AttemptEnd> => (task.consensus ? consensus(task, task.consensus, deps) : single(task, deps));

/** A new round later if retries and the deadline allow one. */
function nextRound(task: AttemptTask, deps: AttemptDeps) {
  return afterFailure({ candidates: [], tried: new Set(), round: task.round, retries: task.retries, now: deps.now(), deadline: task.deadline });
}

/** One member at a time: fail over to untried capable members, then retry in rounds, then fail with the last error. */
export async function single(task: AttemptTask, deps: AttemptDeps): Promise<AttemptEnd> {
  const tried = new Set(task.tried);
  let attempts = task.attempts;
  let member = pickMember(deps.loads(), tried)?.key;
  let lastError: TaskError = { code: "circuit_open", detail: "Every capable member's breaker is open." };
  for (;;) {
    if (member) {
      attempts++;
      tried.add(member);
      if (!deps.claim({ attempts, member, tried: [...tried] })) return { kind: "superseded" };
      const result = await deps.run(member);
      deps.observed(member, result.ok);
      if (result.ok) return { kind: "finish", output: result.output, attempts, member };
      lastError = result.error;
    }
    const next = afterFailure({ candidates: deps.loads(), tried, round: task.round, retries: task.retries, now: deps.now(), deadline: task.deadline });
    if (next.action === "failover") {
      deps.failover({ attempt: attempts + 1, reason: lastError.code, from: member ?? null, to: next.member });
      member = next.member;
      continue;
    }
    if (next.action === "retry") return { kind: "requeue", attempts, error: lastError, delayMs: next.delayMs };
    return { kind: "finish", error: lastError, attempts };
  }
}

/** n distinct members answer at once; a failing one is replaced by an unused capable member; the strategy decides. */
export async function consensus(task: AttemptTask, rule: NonNullable<AttemptTask["consensus"]>, deps: AttemptDeps): Promise<AttemptEnd> {
  const { n, strategy } = rule;
  if (deps.capable.length < n) {
    return { kind: "finish", error: { code: "insufficient_members", detail: `Consensus needs ${n} distinct capable members; the squad has ${deps.capable.length}.` } };
  }
  const picked = pickMembers(deps.loads(), n);
  if (picked.length < n) {
    const error = { code: "circuit_open", detail: `Only ${picked.length} of the ${n} members consensus needs have a closed breaker.` };
    const next = nextRound(task, deps);
    return next.action === "retry" ? { kind: "requeue", attempts: task.attempts, error, delayMs: next.delayMs } : { kind: "finish", error };
  }
  const used = new Set(picked.map((m) => m.key));
  const answers: MemberAnswer[] = [];
  let attempts = task.attempts;
  let superseded = false;
  const runSlot = async (member: string): Promise<void> => {
    attempts++;
    if (superseded || !deps.claim({ attempts, tried: [...used] })) {
      superseded = true;
      return;
    }
    const result = await deps.run(member);
    deps.observed(member, result.ok);
    answers.push({ member, ok: result.ok, durationMs: result.durationMs, arrival: answers.length, ...(result.ok ? { output: result.output } : { error: result.error }) });
    if (result.ok) return;
    const replacement = pickMember(deps.loads(), used);
    if (!replacement) return;
    used.add(replacement.key);
    deps.failover({ attempt: attempts + 1, reason: result.error.code, from: member, to: replacement.key });
    await runSlot(replacement.key);
  };
  await Promise.all(picked.map((m) => runSlot(m.key)));
  if (superseded) return { kind: "superseded" };
  const verdict = aggregate(strategy, n, answers);
  const recorded = answers.map(({ arrival: _arrival, ...a }) => a);
  if (verdict.decided) return { kind: "finish", output: verdict.output, attempts, member: verdict.agreeing[0]!, answers: recorded, agreement: verdict.agreement };
  if (verdict.reason === "too_few_answers" && task.round < task.retries) {
    const next = nextRound(task, deps);
    if (next.action === "retry") return { kind: "requeue", attempts, error: { code: "no_consensus", detail: verdict.detail }, delayMs: next.delayMs };
  }
  return { kind: "finish", error: { code: "no_consensus", detail: verdict.detail }, attempts, answers: recorded, agreement: verdict.agreement };
}
