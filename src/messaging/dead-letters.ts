import { and, desc, eq, sql, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { BatchItem } from "drizzle-orm/batch";
import type { Env } from "../env";
import { AppError } from "../errors";
import { afterTimeId, type Page, toPage } from "../registry/cursor";
import { envelopeSchema, envelopeTraceId, issuedMessageId, keyRing, KeyRingError, type RefusalReason } from "./envelope";
import { enqueueEnvelopes, queueBodySchema } from "./producer";
import { alertDeadLetters } from "./dead-letter-alert";
import { receiptOf } from "./receipts";
import { deadLetters, type DeadLetterRow } from "./schema";

/** Why a message ended here: refused on arrival, rejected by its target, or out of retries. */
export type DeadLetterReason = RefusalReason | "rejected" | "max_retries";
export const DEAD_LETTER_REASONS = ["malformed", "unknown_key", "tampered", "expired", "rejected", "max_retries"] as const;

/** Replaying these would only refuse them again. */
const NOT_REPLAYABLE: ReadonlySet<string> = new Set(["malformed", "tampered", "expired"]);

export interface DeadLetterDraft {
  id: string;
  reason: DeadLetterReason;
  attempts: number;
  firstError: string | null;
  lastError: string | null;
  target: string | null;
  kind: string | null;
  priority: number | null;
  envelope: unknown;
  queue: string;
}

/** Upserts dead letters in one D1 batch; a second arrival of the same message updates, never duplicates. */
export async function recordDeadLetters(d1: D1Database, drafts: readonly DeadLetterDraft[], now = Date.now()): Promise<void> {
  const statements = deadLetterStatements(d1, drafts, now);
  if (statements.length) await drizzle(d1).batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}

/** The statements that record `drafts`, for a caller that sends them in a batch with its own. */
export function deadLetterStatements(d1: D1Database, drafts: readonly DeadLetterDraft[], now = Date.now()): BatchItem<"sqlite">[] {
  const db = drizzle(d1);
  return drafts.map((d) =>
    db
      .insert(deadLetters)
      .values({ ...d, envelope: serialise(d.envelope), createdAt: now, updatedAt: now })
      .onConflictDoUpdate({
        target: deadLetters.id,
        set: {
          reason: d.reason,
          attempts: d.attempts,
          firstError: sql`coalesce(${deadLetters.firstError}, ${d.firstError})`,
          lastError: d.lastError,
          updatedAt: now,
          replayedAt: null,
        },
      }),
  ) as unknown as BatchItem<"sqlite">[];
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function serialise(envelope: unknown): string {
  try {
    return JSON.stringify(envelope) ?? "null";
  } catch {
    return JSON.stringify(String(envelope));
  }
}

/** The dead-letter queue's consumer: every message that ran out of retries becomes a D1 row with its errors. */
export async function storeDeadLetterBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const parsed = batch.messages.map((m) => {
    const body = queueBodySchema.safeParse(m.body);
    const envelope = body.success ? envelopeSchema.safeParse(body.data.envelope) : undefined;
    return { m, raw: body.success ? body.data.envelope : m.body, envelope: envelope?.success ? envelope.data : undefined };
  });
  const receipts = await receiptOf(
    env.RECEIPTS,
    parsed.flatMap((p) => (p.envelope ? [p.envelope.id] : [])),
  );
  const drafts = parsed.map(({ m, raw, envelope }): DeadLetterDraft => {
    const receipt = envelope ? receipts.get(envelope.id) : undefined;
    return {
      id: envelope?.id ?? `qm_${m.id}`,
      reason: envelope ? "max_retries" : "malformed",
      attempts: receipt?.attempts ?? 0,
      firstError: receipt?.firstError ?? null,
      lastError: receipt?.lastError ?? (envelope ? "the consumer failed before recording an error" : "body is not a message envelope"),
      target: envelope?.to ?? null,
      kind: envelope?.kind ?? null,
      priority: envelope?.priority ?? null,
      envelope: raw,
      queue: batch.queue,
    };
  });
  await recordDeadLetters(env.DB, drafts);
  // Announced only once stored: the alert points at a row that exists.
  await alertDeadLetters(env, drafts);
  batch.ackAll();
}

// ---- inspection and replay -------------------------------------------------------

/** A stored dead letter as the API shows it: the draft's fields (reason as stored text) without the envelope, plus its history. */
export interface DeadLetterView extends Omit<DeadLetterDraft, "envelope" | "reason"> {
  reason: string;
  createdAt: string;
  updatedAt: string;
  replayedAt: string | null;
  replayCount: number;
  /** The trace the message was sent in (from its stored envelope). */
  traceId: string | null;
}

const view = (r: DeadLetterRow): DeadLetterView => ({
  id: r.id,
  traceId: envelopeTraceId(safeParse(r.envelope)),
  reason: r.reason,
  attempts: r.attempts,
  firstError: r.firstError,
  lastError: r.lastError,
  target: r.target,
  kind: r.kind,
  priority: r.priority,
  queue: r.queue,
  createdAt: new Date(r.createdAt).toISOString(),
  updatedAt: new Date(r.updatedAt).toISOString(),
  replayedAt: r.replayedAt === null ? null : new Date(r.replayedAt).toISOString(),
  replayCount: r.replayCount,
});

export interface DeadLetterQuery {
  reason?: string;
  target?: string;
  limit: number;
  cursor?: string;
}

/** Newest first, keyset-paged on (createdAt, id). */
export async function listDeadLetters(d1: D1Database, q: DeadLetterQuery): Promise<Page<DeadLetterView>> {
  const filters: (SQL | undefined)[] = [];
  if (q.reason) filters.push(eq(deadLetters.reason, q.reason));
  if (q.target) filters.push(eq(deadLetters.target, q.target));
  filters.push(afterTimeId(q.cursor, deadLetters.createdAt, deadLetters.id, "desc"));
  const rows = await drizzle(d1)
    .select()
    .from(deadLetters)
    .where(and(...filters))
    .orderBy(desc(deadLetters.createdAt), desc(deadLetters.id))
    .limit(q.limit + 1);
  return toPage(rows, q.limit, view, (r) => [r.createdAt, r.id]);
}

async function findDeadLetter(d1: D1Database, id: string): Promise<DeadLetterRow> {
  const [row] = await drizzle(d1).select().from(deadLetters).where(eq(deadLetters.id, id));
  if (!row) throw new AppError("not_found", `No dead letter ${id}.`);
  return row;
}

export async function getDeadLetter(d1: D1Database, id: string): Promise<DeadLetterView & { envelope: unknown }> {
  const row = await findDeadLetter(d1, id);
  return { ...view(row), envelope: JSON.parse(row.envelope) };
}

/** Sends the stored envelope (same id, same bytes) back to its band queue and marks the row replayed. */
export async function replayDeadLetter(env: Env, id: string, now = Date.now()): Promise<DeadLetterView> {
  const row = await findDeadLetter(env.DB, id);
  if (NOT_REPLAYABLE.has(row.reason)) {
    throw new AppError("conflict", `A dead letter refused as ${row.reason} would be refused again; delete it instead.`, { reason: row.reason });
  }
  const envelope = envelopeSchema.safeParse(JSON.parse(row.envelope));
  if (!envelope.success) throw new AppError("conflict", "The stored envelope is not a valid envelope; it cannot be replayed.");
  await enqueueEnvelopes(env, [envelope.data]);
  const [updated] = await drizzle(env.DB)
    .update(deadLetters)
    .set({ replayedAt: now, replayCount: sql`${deadLetters.replayCount} + 1`, updatedAt: now })
    .where(eq(deadLetters.id, id))
    .returning();
  return view(updated ?? row);
}

export async function deleteDeadLetter(d1: D1Database, id: string): Promise<void> {
  const result = await drizzle(d1).delete(deadLetters).where(eq(deadLetters.id, id));
  if (result.meta.changes === 0) throw new AppError("not_found", `No dead letter ${id}.`);
}

// ---- delivery status ----------------------------------------------------------------

export interface MessageStatus {
  id: string;
  /** pending: no consumer has recorded it yet (queued, deferred, or a duplicate whose effect belongs to an earlier message with the same idempotency key). */
  status: "pending" | "delivering" | "retrying" | "delivered" | "dead";
  target: string | null;
  attempts: number;
  lastError: string | null;
  deliveredAt: string | null;
  deadLetter: { reason: string; replayCount: number } | null;
}

/** What the system knows about a message, from its receipt and dead letter; not_found for an id it never issued. */
export async function messageStatus(env: Pick<Env, "DB" | "RECEIPTS" | "MESSAGE_KEYS">, id: string): Promise<MessageStatus> {
  const [receipts, letters] = await Promise.all([receiptOf(env.RECEIPTS, [id]), drizzle(env.DB).select().from(deadLetters).where(eq(deadLetters.id, id))]);
  const receipt = receipts.get(id);
  const letter = letters[0];
  if (!receipt && !letter) {
    const ring = await keyRing(env.MESSAGE_KEYS).catch((e: unknown) => {
      throw e instanceof KeyRingError ? new AppError("messaging_not_configured", e.message) : e;
    });
    // Nothing recorded yet: pending if we issued the id (it is queued, deferred or a duplicate), else unknown.
    if (!(await issuedMessageId(ring, id))) throw new AppError("not_found", `No message ${id}.`);
  }
  const base = {
    id,
    target: receipt?.target ?? letter?.target ?? null,
    attempts: receipt?.attempts ?? letter?.attempts ?? 0,
    lastError: receipt?.lastError ?? letter?.lastError ?? null,
  };
  const deadLetter = letter ? { reason: letter.reason, replayCount: letter.replayCount } : null;
  if (receipt?.status === "done") return { ...base, status: "delivered", deliveredAt: new Date(receipt.doneAt ?? receipt.updatedAt).toISOString(), deadLetter };
  if (letter && letter.replayedAt === null) return { ...base, status: "dead", deliveredAt: null, deadLetter };
  const status = receipt?.status === "claimed" ? "delivering" : receipt?.status === "failed" ? "retrying" : "pending";
  return { ...base, status, deliveredAt: null, deadLetter };
}
