import { pickMember, type MemberLoad } from "./balance";

/** What to do after an execution failed: another member now, a new round later, or give up. Pure. */
export type AfterFailure = { action: "failover"; member: string } | { action: "retry"; delayMs: number } | { action: "fail" };

/** Backoff between rounds: 250 ms doubling per round, at most 10 s. */
export const retryDelayMs = (round: number) => Math.min(10_000, 250 * 2 ** round);

/**
 * Failover to an untried capable member costs nothing; once every capable member has failed in this
 * round, a retry starts a new round after a backoff, up to `retries` extra rounds.
 */
export function afterFailure(opts: {
  candidates: readonly MemberLoad[];
  tried: ReadonlySet<string>;
  round: number;
  retries: number;
  now: number;
  deadline: number | null;
}): AfterFailure {
  const next = pickMember(opts.candidates, opts.tried);
  if (next) return { action: "failover", member: next.key };
  if (opts.round >= opts.retries) return { action: "fail" };
  const delayMs = retryDelayMs(opts.round);
  if (opts.deadline !== null && opts.now + delayMs >= opts.deadline) return { action: "fail" };
  return { action: "retry", delayMs };
}
