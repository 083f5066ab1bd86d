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

/** Claims many keys in one D1 batch (insert-or-ignore + read back), a second only for takeovers. */
export async function claimAll(d1: D1Database, requests: readonly ClaimRequest[], now = Date.now()): Promise<ClaimResult[]> {
  if (requests.length === 0) return [];
  const db = drizzle(d1);
  const tokens = requests.map(() => crypto.randomUUID());
  const rowsToInsert = requests.map((r, i) => ({
    dedupKey: r.dedupKey,
    messageId: r.messageId,
    target: r.target,
    status: "claimed" as const,
    claimToken: tokens[i]!,
    claimedAt: now,
    attempts: 1,
    firstError: null,
    lastError: null,
    doneAt: null,
    updatedAt: now,
  }));
  // Multi-row insert-or-ignore (each row conflicts on its own), sliced under the parameter limit:
  // few statements per batch, which also keeps a batch of 100 well inside D1's per-invocation query limit.
  const inserts = chunks(rowsToInsert, Math.floor(PARAMS_MAX / Object.keys(rowsToInsert[0]!).length)).map((slice) =>
    db.insert(messageReceipts).values(slice).onConflictDoNothing(),
  );
  const keys = [...new Set(requests.map((r) => r.dedupKey))];
  // One round trip: the reads run in the same batch, after the inserts (in-lists sliced under D1's 100-parameter limit).
  const reads = chunks(keys, IN_LIST_MAX).map((slice) => db.select().from(messageReceipts).where(inArray(messageReceipts.dedupKey, slice)));
  const batchResults = await db.batch([...inserts, ...reads] as unknown as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  const rows = (batchResults.slice(inserts.length) as ReceiptRow[][]).flat();
  const byKey = new Map(rows.map((r) => [r.dedupKey, r]));

  const results: ClaimResult[] = [];
  const takeovers: { index: number; row: ReceiptRow; token: string }[] = [];
  const seen = new Set<string>();
  requests.forEach((r, i) => {
    const row = byKey.get(r.dedupKey);
    if (!row) throw new Error(`receipt ${r.dedupKey} vanished between insert and read`);
    const firstInBatch = !seen.has(r.dedupKey);
    seen.add(r.dedupKey);
    if (row.claimToken === tokens[i] && firstInBatch) results[i] = { state: "claimed", token: tokens[i]! };
    else if (row.status === "done") results[i] = { state: "duplicate" };
    else if (!firstInBatch) results[i] = { state: "duplicate" }; // same key twice in one batch: one effect covers both
    else if (row.status === "failed" || row.claimedAt + CLAIM_LEASE_MS <= now) takeovers.push({ index: i, row, token: tokens[i]! });
    else results[i] = { state: "busy", retryInMs: row.claimedAt + CLAIM_LEASE_MS - now };
  });

  if (takeovers.length > 0) {
    const updates = takeovers.map(({ row, token }, k) =>
      db
        .update(messageReceipts)
        .set({ status: "claimed", claimToken: token, claimedAt: now, updatedAt: now, messageId: requests[takeovers[k]!.index]!.messageId, attempts: sql`${messageReceipts.attempts} + 1` })
        .where(and(eq(messageReceipts.dedupKey, row.dedupKey), eq(messageReceipts.claimToken, row.claimToken), eq(messageReceipts.status, row.status))),
    );
    const outcomes = await db.batch(updates as unknown as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
    takeovers.forEach(({ index, token }, k) => {
      const changes = (outcomes[k] as D1Result).meta.changes;
      results[index] = changes === 1 ? { state: "claimed", token } : { state: "busy", retryInMs: 1000 };
    });
  }
  return results;
}

export type Settlement = { dedupKey: string; token: string } & ({ outcome: "done" } | { outcome: "failed"; error: string } | { outcome: "released" });

/** Records how claimed effects ended, in one D1 batch. Only the claim's holder can settle it. */
export async function settleAll(d1: D1Database, settlements: readonly Settlement[], now = Date.now()): Promise<void> {
  if (settlements.length === 0) return;
  const db = drizzle(d1);
  // Tokens are unique per claim, so "key in K and token in T" matches exactly the claims we hold.
  const holders = (list: readonly Settlement[]) =>
    // Two parameters per claim, leaving room for the SET clause's own.
    chunks(list, Math.floor((PARAMS_MAX - 5) / 2)).map((slice) =>
      and(inArray(messageReceipts.dedupKey, slice.map((s) => s.dedupKey)), inArray(messageReceipts.claimToken, slice.map((s) => s.token)))!,
    );
  const done = settlements.filter((s) => s.outcome === "done");
  // Released: put back without counting as a failure (deferred for an open breaker).
  const released = settlements.filter((s) => s.outcome === "released");
  const updates = [
    ...holders(done).map((where) => db.update(messageReceipts).set({ status: "done", doneAt: now, updatedAt: now }).where(where)),
    ...holders(released).map((where) => db.update(messageReceipts).set({ status: "failed", attempts: sql`${messageReceipts.attempts} - 1`, updatedAt: now }).where(where)),
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
  await db.batch(updates as unknown as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}

/** The receipt of a message, for the dead-letter consumer (attempts and errors). */
export async function receiptOf(d1: D1Database, messageIds: readonly string[]): Promise<Map<string, ReceiptRow>> {
  const db = drizzle(d1);
  const slices = await Promise.all(chunks([...new Set(messageIds)], IN_LIST_MAX).map((slice) => db.select().from(messageReceipts).where(inArray(messageReceipts.messageId, slice))));
  return new Map(slices.flat().map((r) => [r.messageId, r]));
}

/** Drops done receipts past the retention window (for a cron). Returns how many went. */
export async function pruneReceipts(d1: D1Database, now = Date.now()): Promise<number> {
  const result = await drizzle(d1)
    .delete(messageReceipts)
    .where(and(eq(messageReceipts.status, "done"), lt(messageReceipts.updatedAt, now - RECEIPT_RETENTION_MS)));
  return result.meta.changes;
}
