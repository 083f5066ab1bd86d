/** A per-member circuit breaker: consecutive failures open it; after a cooldown one trial may pass. Pure. */
export interface Breaker {
  state: "closed" | "open";
  failures: number;
  openedAt: number | null;
}

export const closedBreaker = (): Breaker => ({ state: "closed", failures: 0, openedAt: null });

/** Open breakers keep the member out until the cooldown has passed; then it may take a trial execution. */
export const breakerAllows = (b: Breaker, now: number, cooldownMs: number) => b.state === "closed" || (b.openedAt !== null && now - b.openedAt >= cooldownMs);

export function recordOutcome(b: Breaker, ok: boolean, now: number, threshold: number): { next: Breaker; transition?: "opened" | "closed" } {
  if (ok) return { next: closedBreaker(), ...(b.state === "open" ? { transition: "closed" as const } : {}) };
  const failures = b.failures + 1;
  if (b.state === "open") return { next: { state: "open", failures, openedAt: now } }; // a failed trial re-arms the cooldown
  if (failures >= threshold) return { next: { state: "open", failures, openedAt: now }, transition: "opened" };
  return { next: { state: "closed", failures, openedAt: null } };
}
