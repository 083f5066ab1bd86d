/**
 * Effect-once bookkeeping on one receipt shard's SQLite storage (a ReceiptShard Durable Object). Pure
 * functions over `SqlStorage`: every call runs synchronously inside the object, so a call is atomic and
 * its writes are durable before the object answers (the output gate).
 *
 * Before running an effect the consumer claims its dedup key; after the effect it marks the claim done.
 * A redelivery that finds `done` is acknowledged without a second effect. The window: a crash after the
 * effect but before `done` is written leaves a `claimed` row; once its lease lapses the next attempt runs
 * the effect again (at-least-once), so targets get the dedup key too (squads dedupe tasks by it).
 *
 * Effects that take no claim (topic fan-outs, see needsClaim in deliver.ts) only need their message's status:
 * `message_outcomes` holds one row per message id in a table without a rowid or secondary index, a third of
 * a receipt's write cost (one B-tree instead of four), and its ids begin with their send time, so pruning is
 * a range of the key.
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
CREATE INDEX IF NOT EXISTS receipts_updated ON receipts (updated_at);
CREATE TABLE IF NOT EXISTS message_outcomes (
  message_id TEXT PRIMARY KEY,
  target TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
  attempts INTEGER NOT NULL,
  first_error TEXT,
  last_error TEXT,
  done_at INTEGER,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID`;

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

/**
 * How an effect ended: for a claim held (its `token`), or for an effect that took no claim (`token` null: one whose
 * repeats are deduplicated downstream, see needsClaim in deliver.ts), recorded under its message id so the message has a status.
 */
export type Settlement = ({ dedupKey: string; token: string } | { messageId: string; target: string; token: null }) &
  ({ outcome: "done" } | { outcome: "failed"; error: string } | { outcome: "released" });

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

// Set-based statements: a call costs a few statements whatever its size, the rows riding as one JSON parameter of
// arrays (`value ->> 0` reads a position; named fields cost a key lookup per field and row).
const CLAIM_SQL = `INSERT INTO receipts (dedup_key, message_id, target, status, claim_token, claimed_at, attempts, updated_at)
  SELECT value ->> 0, value ->> 1, value ->> 2, 'claimed', value ->> 3, ?, 1, ?
  FROM json_each(?) WHERE true
  ON CONFLICT (dedup_key) DO UPDATE SET status = 'claimed', claim_token = excluded.claim_token, claimed_at = excluded.claimed_at,
    updated_at = excluded.updated_at, message_id = excluded.message_id, attempts = receipts.attempts + 1
  WHERE receipts.status = 'failed' OR (receipts.status = 'claimed' AND receipts.claimed_at + ? <= excluded.claimed_at)
  RETURNING dedup_key`;
/** Keys the claim did not take: done ones, and live claims of other attempts. */
const READ_KEPT_SQL = "SELECT dedup_key, status, claimed_at FROM receipts WHERE dedup_key IN (SELECT value FROM json_each(?))";
// Tokens are unique per claim, so "key in K and token in T" matches exactly the claims held (and looks keys up by index).
const HELD = "dedup_key IN (SELECT value ->> 0 FROM json_each(?1)) AND claim_token IN (SELECT value ->> 1 FROM json_each(?1))";

/**
 * Claims each key: a free key is inserted; a failed claim, or one whose lease lapsed, is taken over (counting
 * an attempt); a live or done one is left alone. The same key twice in one call is claimed once.
 */
export function claimRows(sql: SqlStorage, requests: readonly ClaimRequest[], now: number): ClaimResult[] {
  const seen = new Set<string>();
  const firsts = requests.map((r) => !seen.has(r.dedupKey) && Boolean(seen.add(r.dedupKey)));
  // One random UUID per call, a position per claim: unique per claim, without a UUID per message.
  const call = crypto.randomUUID();
  const tokens = requests.map((_, i) => (firsts[i] ? `${call}.${i}` : ""));
  const rows = JSON.stringify(requests.flatMap((r, i) => (firsts[i] ? [[r.dedupKey, r.messageId, r.target, tokens[i]]] : [])));
  const taken = new Set(
    sql
      .exec<Pick<ReceiptRow, "dedup_key">>(CLAIM_SQL, now, now, rows, CLAIM_LEASE_MS)
      .toArray()
      .map((row) => row.dedup_key),
  );
  const kept = requests.filter((r, i) => firsts[i] && !taken.has(r.dedupKey)).map((r) => r.dedupKey);
  const others = new Map(
    kept.length
      ? sql
          .exec<Pick<ReceiptRow, "dedup_key" | "status" | "claimed_at">>(READ_KEPT_SQL, JSON.stringify(kept))
          .toArray()
          .map((row) => [row.dedup_key, row])
      : [],
  );
  return requests.map((r, i): ClaimResult => {
    if (!firsts[i]) return { state: "duplicate" }; // one effect covers both
    if (taken.has(r.dedupKey)) return { state: "claimed", token: tokens[i]! };
    const row = others.get(r.dedupKey);
    if (!row || row.status === "done") return { state: "duplicate" };
    // A live claim of another attempt (a failed or lapsed one would have been taken over above).
    return { state: "busy", retryInMs: Math.max(1000, row.claimed_at + CLAIM_LEASE_MS - now) };
  });
}

// An effect that took no claim: its outcome becomes its message's, counting an attempt, unless the message is already
// done (a redelivered copy). Rows ride as [messageId, target, status, error] arrays: no key names to parse per row.
const RECORD_UNCLAIMED_SQL = `INSERT INTO message_outcomes (message_id, target, status, attempts, first_error, last_error, done_at, updated_at)
  SELECT value ->> 0, value ->> 1, value ->> 2, 1, value ->> 3, value ->> 3, CASE value ->> 2 WHEN 'done' THEN ?2 END, ?2
  FROM json_each(?1) WHERE true
  ON CONFLICT (message_id) DO UPDATE SET status = excluded.status, attempts = message_outcomes.attempts + 1,
    first_error = coalesce(message_outcomes.first_error, excluded.first_error), last_error = coalesce(excluded.last_error, message_outcomes.last_error),
    done_at = excluded.done_at, updated_at = excluded.updated_at
  WHERE message_outcomes.status = 'failed'`;

/** Records how effects ended. Only a claim's holder (its token) can settle it; unclaimed effects are recorded by upsert. */
export function settleRows(sql: SqlStorage, settlements: readonly Settlement[], now: number): void {
  const done: [dedupKey: string, token: string][] = [];
  const released: [dedupKey: string, token: string][] = [];
  const unclaimed: [messageId: string, target: string, status: "done" | "failed", error: string | null][] = [];
  for (const s of settlements) {
    if (s.token === null) {
      // Released without a claim: nothing was held, so nothing is put back.
      if (s.outcome !== "released") unclaimed.push([s.messageId, s.target, s.outcome, s.outcome === "failed" ? s.error : null]);
    } else if (s.outcome === "done") done.push([s.dedupKey, s.token]);
    else if (s.outcome === "released") released.push([s.dedupKey, s.token]);
  }
  if (done.length) sql.exec(`UPDATE receipts SET status = 'done', done_at = ?2, updated_at = ?2 WHERE ${HELD}`, JSON.stringify(done), now);
  // Released: put back without counting as a failure (deferred for an open breaker).
  if (released.length) sql.exec(`UPDATE receipts SET status = 'failed', attempts = attempts - 1, updated_at = ?2 WHERE ${HELD}`, JSON.stringify(released), now);
  if (unclaimed.length) sql.exec(RECORD_UNCLAIMED_SQL, JSON.stringify(unclaimed), now);
  for (const s of settlements) {
    if (s.outcome !== "failed" || s.token === null) continue;
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

/** What is recorded of one message's effect: its claim's receipt, or the outcome of an effect that took none. */
export type MessageRecord = Pick<Receipt, "messageId" | "target" | "status" | "attempts" | "firstError" | "lastError" | "doneAt" | "updatedAt">;

const OUTCOME_SQL = `SELECT message_id AS messageId, target, status, attempts, first_error AS firstError, last_error AS lastError,
  done_at AS doneAt, updated_at AS updatedAt FROM message_outcomes WHERE message_id = ?`;

/** The records of messages with these ids (a topic message's outcome after any receipt it held before outcomes had their own table). */
export function receiptsOfMessages(sql: SqlStorage, messageIds: readonly string[]): MessageRecord[] {
  return [...new Set(messageIds)].flatMap((id) => [
    ...sql.exec<ReceiptRow>("SELECT * FROM receipts WHERE message_id = ?", id).toArray().map(toReceipt),
    ...sql.exec<MessageRecord & Record<string, SqlStorageValue>>(OUTCOME_SQL, id).toArray(),
  ]);
}

/** The receipt under one dedup key, if any. */
export function receiptOfKey(sql: SqlStorage, dedupKey: string): Receipt | undefined {
  const [row] = sql.exec<ReceiptRow>("SELECT * FROM receipts WHERE dedup_key = ?", dedupKey).toArray();
  return row && toReceipt(row);
}

/** Receipts one prune call deletes at most, so a call stays well inside an object's CPU limit; the next cron takes the rest. */
export const PRUNE_MAX_ROWS = 500_000;

/**
 * Drops done receipts past the retention window, oldest first, then the outcomes of messages sent before it (an id
 * begins with its send time in hex, so ids below the cutoff's are older), at most `limit` in all. Returns how many went.
 */
export function pruneRows(sql: SqlStorage, now: number, limit = PRUNE_MAX_ROWS): number {
  const cutoff = now - RECEIPT_RETENTION_MS;
  const receipts = sql.exec(
    "DELETE FROM receipts WHERE rowid IN (SELECT rowid FROM receipts WHERE status = 'done' AND updated_at < ? ORDER BY updated_at LIMIT ?)",
    cutoff,
    limit,
  ).rowsWritten;
  if (receipts >= limit) return receipts;
  const firstKept = `msg_${Math.max(0, cutoff).toString(16).padStart(12, "0")}`;
  const outcomes = sql.exec(
    "DELETE FROM message_outcomes WHERE message_id IN (SELECT message_id FROM message_outcomes WHERE message_id >= 'msg_' AND message_id < ? ORDER BY message_id LIMIT ?)",
    firstKept,
    limit - receipts,
  ).rowsWritten;
  return receipts + outcomes;
}
