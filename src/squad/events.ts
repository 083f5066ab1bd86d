import { z } from "@hono/zod-openapi";

/** Every event a squad streams: `seq` grows by one per squad event. */
export interface SquadEvent {
  type: string;
  squadId: string;
  seq: number;
  ts: string;
  data: unknown;
}

export const EVENT_TYPES = [
  "task.queued",
  "task.started",
  "task.retried",
  "task.completed",
  "task.failed",
  "task.cancelled",
  "run.started",
  "run.step.started",
  "run.step.completed",
  "run.step.failed",
  "run.step.skipped",
  "run.completed",
  "run.failed",
  "member.breaker.opened",
  "member.breaker.closed",
] as const;

/** Types other areas may publish into a squad's stream (e.g. messaging topics): dotted lowercase words. */
export const publishedEventType = z
  .string()
  .regex(/^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/, "must be dotted lowercase words")
  .max(64);

/** Replay window: the last REPLAY_MAX_EVENTS events, and none older than REPLAY_MAX_AGE_MS. */
export const REPLAY_MAX_EVENTS = 1000;
export const REPLAY_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/** Oldest seq to keep after appending `lastSeq` at `now`; prune is by count here, by age in SQL. */
export const pruneBelowSeq = (lastSeq: number) => Math.max(0, lastSeq - REPLAY_MAX_EVENTS + 1);

/** Messages a stream client may send; anything else is answered with an error frame. */
export const clientMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ping"), v: z.literal(1) }),
  z.object({ type: z.literal("replay"), v: z.literal(1), since: z.number().int().min(0) }),
]);

export type ClientMessage = z.infer<typeof clientMessageSchema>;
