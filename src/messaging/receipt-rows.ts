/**
 * Effect-once bookkeeping on one receipt shard's SQLite storage (a ReceiptShard Durable Object). Pure
 * functions over `SqlStorage`: every call runs synchronously inside the object, so a call is atomic and
 * its writes are durable before the object answers (the output gate).
 *
 * Before running an effect the consumer claims its dedup key; after the effect it marks the claim done.
 * A redelivery that finds `done` is acknowledged without a second effect. The window: a crash after the
 * effect but before `done` is written leaves a `claimed` row; once its lease lapses the next attempt runs
 * the effect again (at-least-once), so targets get the dedup key too (squads dedupe tasks by it).
 */

/** How long a claim protects a running effect from a concurrent duplicate; longer than any effect may run. */
export const CLAIM_LEASE_MS = 6 * 60_000;

/** Done receipts older than this may be pruned; duplicates arriving later would run again. */
export const RECEIPT_RETENTION_MS = 7 * 24 * 3600_000;

export const RECEIPTS_TABLE = `CREATE TABLE IF NOT EXISTS receipts (
  dedup_key TEXT PRIMARY KEY,
  message_id TEXT NOT NULL,
  target TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('claimed', 'done', 'failed')),
  claim_token TEXT NOT NULL,
  claimed_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 1,
  first_error TEXT,
  last_error TEXT,
  done_at INTEGER,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS receipts_message ON receipts (message_id);
CREATE INDEX IF NOT EXISTS receipts_updated ON receipts (updated_at)`;

/** One effect identity (`idem:<to>:<idempotencyKey>` or `msg:<id>`) and how far its effect got. */
export interface Receipt {
  dedupKey: string;
  messageId: string;
  target: string;
  /** claimed: an attempt is running the effect; done: it finished; failed: the last attempt failed and may be reclaimed. */
  status: "claimed" | "done" | "failed";
  claimToken: string;
  claimedAt: number;
  attempts: number;
  firstError: string | null;
  lastError: string | null;
  doneAt: number | null;
  updatedAt: number;
}

export interface ClaimRequest {
  dedupKey: string;
  messageId: string;
  target: string;
}

export type ClaimResult =
  | { state: "claimed"; token: string }
  | { state: "duplicate" }
  /** Another attempt holds a live claim (or the receipt store did not answer); try again later. */
  | { state: "busy"; retryInMs: number };

export type Settlement = { dedupKey: string; token: string } & ({ outcome: "done" } | { outcome: "failed"; error: string } | { outcome: "released" });

interface ReceiptRow extends Record<string, SqlStorageValue> {
  dedup_key: string;
  message_id: string;
  target: string;
  status: Receipt["status"];
  claim_token: string;
  claimed_at: number;
  attempts: number;
  first_error: string | null;
  last_error: string | null;
  done_at: number | null;
  updated_at: number;
}

const toReceipt = (r: ReceiptRow): Receipt => ({
  dedupKey: r.dedup_key,
  messageId: r.message_id,
  target: r.target,
  status: r.status,
  claimToken: r.claim_token,
  claimedAt: r.claimed_at,
  attempts: r.attempts,
  firstError: r.first_error,
  lastError: r.last_error,
  doneAt: r.done_at,
  updatedAt: r.updated_at,
});

/**
 * Claims each key in order: a free key is inserted; a failed claim, or one whose lease lapsed, is taken over
 * (counting an attempt); a live or done one is left alone. The same key twice in one call is claimed once.
 */
export function claimRows(sql: SqlStorage, requests: readonly ClaimRequest[], now: number): ClaimResult[] {
  const seen = new Set<string>();
  return requests.map((r): ClaimResult => {
    if (seen.has(r.dedupKey)) return { state: "duplicate" }; // one effect covers both
    seen.add(r.dedupKey);
    const [row] = sql.exec<Pick<ReceiptRow, "status" | "claimed_at">>("SELECT status, claimed_at FROM receipts WHERE dedup_key = ?", r.dedupKey).toArray();
    const token = crypto.randomUUID();
    if (!row) {
      sql.exec(
        "INSERT INTO receipts (dedup_key, message_id, target, status, claim_token, claimed_at, attempts, updated_at) VALUES (?, ?, ?, 'claimed', ?, ?, 1, ?)",
        r.dedupKey,
        r.messageId,
        r.target,
        token,
        now,
        now,
      );
      return { state: "claimed", token };
    }
    if (row.status === "done") return { state: "duplicate" };
    if (row.status === "claimed" && row.claimed_at + CLAIM_LEASE_MS > now) return { state: "busy", retryInMs: Math.max(1000, row.claimed_at + CLAIM_LEASE_MS - now) };
    sql.exec(
      "UPDATE receipts SET status = 'claimed', claim_token = ?, claimed_at = ?, updated_at = ?, message_id = ?, attempts = attempts + 1 WHERE dedup_key = ?",
      token,
      now,
      now,
      r.messageId,
      r.dedupKey,
    );
    return { state: "claimed", token };
  });
}

/** Records how claimed effects ended. Only the claim's holder (its token) can settle it. */
export function settleRows(sql: SqlStorage, settlements: readonly Settlement[], now: number): void {
  for (const s of settlements) {
    if (s.outcome === "done") {
      sql.exec("UPDATE receipts SET status = 'done', done_at = ?, updated_at = ? WHERE dedup_key = ? AND claim_token = ?", now, now, s.dedupKey, s.token);
    } else if (s.outcome === "released") {
      // Put back without counting as a failure (deferred for an open breaker).
      sql.exec("UPDATE receipts SET status = 'failed', attempts = attempts - 1, updated_at = ? WHERE dedup_key = ? AND claim_token = ?", now, s.dedupKey, s.token);
    } else {
      sql.exec(
        "UPDATE receipts SET status = 'failed', first_error = coalesce(first_error, ?), last_error = ?, updated_at = ? WHERE dedup_key = ? AND claim_token = ?",
        s.error,
        s.error,
        now,
        s.dedupKey,
        s.token,
      );
    }
  }
}

/** The receipts that messages with these ids hold. */
export function receiptsOfMessages(sql: SqlStorage, messageIds: readonly string[]): Receipt[] {
  return [...new Set(messageIds)].flatMap((id) => sql.exec<ReceiptRow>("SELECT * FROM receipts WHERE message_id = ?", id).toArray().map(toReceipt));
}

/** The receipt under one dedup key, if any. */
export function receiptOfKey(sql: SqlStorage, dedupKey: string): Receipt | undefined {
  const [row] = sql.exec<ReceiptRow>("SELECT * FROM receipts WHERE dedup_key = ?", dedupKey).toArray();
  return row && toReceipt(row);
}

/** Drops done receipts past the retention window. Returns how many went. */
export function pruneRows(sql: SqlStorage, now: number): number {
  return sql.exec("DELETE FROM receipts WHERE status = 'done' AND updated_at < ?", now - RECEIPT_RETENTION_MS).rowsWritten;
}
