/** Delivery policy as pure functions: ordering inside a batch, backoff, deferral limits. */

/** Longest delay Queues accepts for a retry or a delayed send (12 hours); we stop doubling well before. */
const MAX_DELAY_SECONDS = 3600;

/** A lower band puts a message back at most this many times for higher bands; then it runs (no starvation). */
export const MAX_YIELDS = 3;

/** Deferrals for an open circuit breaker before the message counts failures like any other. */
export const MAX_CIRCUIT_DEFERRALS = 10;

/** Exponential backoff for the n-th failed attempt (1-based): base, 2·base, 4·base, … capped. */
export function retryDelaySeconds(attempts: number, baseSeconds: number): number {
  return Math.min(MAX_DELAY_SECONDS, Math.round(baseSeconds * 2 ** Math.max(0, attempts - 1)));
}

/** Delay before a message deferred for an open breaker is tried again; grows with each deferral. */
export function circuitDelaySeconds(deferrals: number, baseSeconds: number): number {
  return Math.min(MAX_DELAY_SECONDS, Math.max(1, Math.round(Math.max(1, baseSeconds) * 2 ** deferrals)));
}

export function retryBase(raw: string | undefined): number {
  const n = Number(raw ?? "2");
  return Number.isFinite(n) && n >= 0 ? n : 2;
}

interface Ordered {
  priority: number;
  createdAt: number;
  id: string;
}

/** Higher priority first; among equals, older first; ids break ties so the order is total. */
export function byDeliveryOrder(a: Ordered, b: Ordered): number {
  return b.priority - a.priority || a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Groups items by priority, highest level first: each level runs after the one above has finished. */
export function priorityLevels<T extends Ordered>(items: readonly T[]): T[][] {
  const sorted = [...items].sort(byDeliveryOrder);
  const levels: T[][] = [];
  for (const item of sorted) {
    const last = levels[levels.length - 1];
    if (last && last[0]!.priority === item.priority) last.push(item);
    else levels.push([item]);
  }
  return levels;
}
