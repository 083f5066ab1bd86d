import { and, eq, inArray, lt, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { BatchItem } from "drizzle-orm/batch";
import { messageReceipts, type ReceiptRow } from "./schema";

/**
 * Effect-once bookkeeping. Before running an effect the consumer claims its dedup key
 * (insert-or-ignore); after the effect it marks the claim done. A redelivery that finds `done`
 * is acknowledged without a second effect. The window: a crash after the effect but before
 * `done` is written leaves a `claimed` row; once its lease lapses the next attempt runs the
 * effect again (at-least-once), so targets get the dedup key too (squads dedupe tasks by it).
 */

/** How long a claim protects a running effect from a concurrent duplicate; longer than any effect may run. */
export const CLAIM_LEASE_MS = 6 * 60_000;

/** Done receipts older than this may be pruned; duplicates arriving later would run again. */
export const RECEIPT_RETENTION_MS = 7 * 24 * 3600_000;

/** D1 binds at most 100 parameters per statement. */
const PARAMS_MAX = 99;
const IN_LIST_MAX = 90;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export interface ClaimRequest {
  dedupKey: string;
  messageId: string;
  target: string;
}

export type ClaimResult =
  | { state: "claimed"; token: string }
  | { state: "duplicate" }
  /** Another attempt holds a live claim; try again when its lease ends. */
  | { state: "busy"; retryInMs: number };

/** Dedup key: the producer's idempotency key scoped to the target, else the message id. */
export function dedupKeyOf(e: { id: string; to: string; idempotencyKey?: string }): string {
  return e.idempotencyKey ? `idem:${e.to}:${e.idempotencyKey}` : `msg:${e.id}`;
}

/**
 * Claims every key of a batch in one D1 round trip of two statements, whatever the batch size: the
 * requests ride as one JSON parameter (json_each), so D1's 100-parameter limit never slices them.
 * The insert takes a free key; on conflict it takes over a failed claim or one whose lease lapsed
 * (counting an attempt), and leaves a live or done one alone. SQLite applies the rows in order, so the
 * same key twice in one batch is claimed once. The read back then shows whose token holds each key.
 */
const CLAIM_SQL = `INSERT INTO message_receipts (dedup_key, message_id, target, status, claim_token, claimed_at, attempts, updated_at)
  SELECT json_extract(value, '$.k'), json_extract(value, '$.m'), json_extract(value, '$.t'), 'claimed', json_extract(value, '$.c'), ?2, 1, ?2
  FROM json_each(?1) WHERE true
  ON CONFLICT (dedup_key) DO UPDATE SET status = 'claimed', claim_token = excluded.claim_token, claimed_at = excluded.claimed_at,
    updated_at = excluded.updated_at, message_id = excluded.message_id, attempts = message_receipts.attempts + 1
  WHERE message_receipts.status = 'failed' OR (message_receipts.status = 'claimed' AND message_receipts.claimed_at + ?3 <= ?2)`;
const READ_CLAIMS_SQL = "SELECT dedup_key, status, claim_token, claimed_at FROM message_receipts WHERE dedup_key IN (SELECT value FROM json_each(?1))";

interface ClaimRow {
  dedup_key: string;
  status: ReceiptRow["status"];
  claim_token: string;
  claimed_at: number;
}

export async function claimAll(d1: D1Database, requests: readonly ClaimRequest[], now = Date.now()): Promise<ClaimResult[]> {
  if (requests.length === 0) return [];
  const tokens = requests.map(() => crypto.randomUUID());
  const rows = requests.map((r, i) => ({ k: r.dedupKey, m: r.messageId, t: r.target, c: tokens[i]! }));
  const keys = [...new Set(requests.map((r) => r.dedupKey))];
  const [, read] = await d1.batch<ClaimRow>([d1.prepare(CLAIM_SQL).bind(JSON.stringify(rows), now, CLAIM_LEASE_MS), d1.prepare(READ_CLAIMS_SQL).bind(JSON.stringify(keys))]);
  const byKey = new Map(read!.results.map((r) => [r.dedup_key, r]));
  const seen = new Set<string>();
  return requests.map((r, i): ClaimResult => {
    const row = byKey.get(r.dedupKey);
    if (!row) throw new Error(`receipt ${r.dedupKey} vanished between insert and read`);
    const firstInBatch = !seen.has(r.dedupKey);
    seen.add(r.dedupKey);
    if (row.claim_token === tokens[i] && firstInBatch) return { state: "claimed", token: tokens[i]! };
    if (row.status === "done" || !firstInBatch) return { state: "duplicate" }; // same key twice in one batch: one effect covers both
    // A live claim of another attempt (a failed or lapsed one would have been taken over above).
    return { state: "busy", retryInMs: Math.max(1000, row.claimed_at + CLAIM_LEASE_MS - now) };
  });
}

export type Settlement = { dedupKey: string; token: string } & ({ outcome: "done" } | { outcome: "failed"; error: string } | { outcome: "released" });

/** Records how claimed effects ended, in one D1 batch. Only the claim's holder can settle it. */
export async function settleAll(d1: D1Database, settlements: readonly Settlement[], now = Date.now()): Promise<void> {
  const statements = settlementStatements(d1, settlements, now);
  if (statements.length) await drizzle(d1).batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}

/** The statements that settle `settlements`, for a caller that sends them in a batch with its own. */
export function settlementStatements(d1: D1Database, settlements: readonly Settlement[], now = Date.now()): BatchItem<"sqlite">[] {
  if (settlements.length === 0) return [];
  const db = drizzle(d1);
  // Tokens are unique per claim, so "key in K and token in T" matches exactly the claims we hold.
  const holders = (list: readonly Settlement[]) =>
    // Two parameters per claim, leaving room for the SET clause's own.
    chunks(list, Math.floor((PARAMS_MAX - 5) / 2)).map(
      (slice) =>
        and(
          inArray(
            messageReceipts.dedupKey,
            slice.map((s) => s.dedupKey),
          ),
          inArray(
            messageReceipts.claimToken,
            slice.map((s) => s.token),
          ),
        )!,
    );
  const done = settlements.filter((s) => s.outcome === "done");
  // Released: put back without counting as a failure (deferred for an open breaker).
  const released = settlements.filter((s) => s.outcome === "released");
  const updates = [
    ...holders(done).map((where) => db.update(messageReceipts).set({ status: "done", doneAt: now, updatedAt: now }).where(where)),
    ...holders(released).map((where) =>
      db
        .update(messageReceipts)
        .set({ status: "failed", attempts: sql`${messageReceipts.attempts} - 1`, updatedAt: now })
        .where(where),
    ),
    ...settlements.flatMap((s) =>
      s.outcome === "failed"
        ? [
            db
              .update(messageReceipts)
              .set({ status: "failed", firstError: sql`coalesce(${messageReceipts.firstError}, ${s.error})`, lastError: s.error, updatedAt: now })
              .where(and(eq(messageReceipts.dedupKey, s.dedupKey), eq(messageReceipts.claimToken, s.token))),
          ]
        : [],
    ),
  ];
  return updates as unknown as BatchItem<"sqlite">[];
}

/** The receipt of a message, for the dead-letter consumer (attempts and errors). */
export async function receiptOf(d1: D1Database, messageIds: readonly string[]): Promise<Map<string, ReceiptRow>> {
  const db = drizzle(d1);
  const slices = await Promise.all(
    chunks([...new Set(messageIds)], IN_LIST_MAX).map((slice) => db.select().from(messageReceipts).where(inArray(messageReceipts.messageId, slice))),
  );
  return new Map(slices.flat().map((r) => [r.messageId, r]));
}

/** Drops done receipts past the retention window (for a cron). Returns how many went. */
export async function pruneReceipts(d1: D1Database, now = Date.now()): Promise<number> {
  const result = await drizzle(d1)
    .delete(messageReceipts)
    .where(and(eq(messageReceipts.status, "done"), lt(messageReceipts.updatedAt, now - RECEIPT_RETENTION_MS)));
  return result.meta.changes;
}
