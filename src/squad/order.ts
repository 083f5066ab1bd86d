/** Which queued task runs next. Pure: the Durable Object only stores rows and calls these. */
export interface QueuedTask {
  id: string;
  priority: number;
  queuedAt: number;
  /** Insertion order, so tasks queued in the same millisecond stay first-in first-out. */
  seq: number;
}

/**
 * Aging rule: a task gains one effective priority level per `agingMs` it has waited.
 * Priority 9 is most urgent; a priority-0 task overtakes fresh priority-9 work after 10 × agingMs.
 */
export const effectivePriority = (t: QueuedTask, now: number, agingMs: number) => t.priority + Math.floor(Math.max(0, now - t.queuedAt) / agingMs);

/** Higher effective priority first, then older first (FIFO within a priority). */
export function comesBefore(a: QueuedTask, b: QueuedTask, now: number, agingMs: number): boolean {
  const ea = effectivePriority(a, now, agingMs);
  const eb = effectivePriority(b, now, agingMs);
  if (ea !== eb) return ea > eb;
  if (a.queuedAt !== b.queuedAt) return a.queuedAt < b.queuedAt;
  return a.seq < b.seq;
}

export function nextTask<T extends QueuedTask>(queued: readonly T[], now: number, agingMs: number): T | undefined {
  return queued.reduce<T | undefined>((best, t) => (!best || comesBefore(t, best, now, agingMs) ? t : best), undefined);
}

/** The whole queue in dispatch order (for display and tests; dispatch itself only needs nextTask). */
export function dispatchOrder<T extends QueuedTask>(queued: readonly T[], now: number, agingMs: number): T[] {
  return [...queued].sort((a, b) => (comesBefore(a, b, now, agingMs) ? -1 : comesBefore(b, a, now, agingMs) ? 1 : 0));
}
