import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { fnv1a } from "../evaluation/split";
import { log } from "../observability/log";
import {
  type ClaimRequest,
  type ClaimResult,
  claimRows,
  pruneRows,
  type MessageRecord,
  type Receipt,
  RECEIPTS_TABLE,
  receiptOfKey,
  receiptsOfMessages,
  type Settlement,
  settleRows,
} from "./receipt-rows";

export { CLAIM_LEASE_MS, type ClaimRequest, type ClaimResult, type MessageRecord, RECEIPT_RETENTION_MS, type Receipt, type Settlement } from "./receipt-rows";

/**
 * Receipts live in Durable Objects next to the consumer, not in D1: a batch's claims cost one call per
 * shard it touches (all in parallel), and so do its settlements, instead of a round trip to D1's primary
 * each. A dedup key always maps to the same shard, so one object decides every claim on it, atomically.
 *
 * One shard: a batch's keys are random, so a batch touches every shard and each shard takes two calls per
 * batch however many there are. More shards add calls (each billed, each a storage commit to wait for)
 * without lowering the call rate one object must take; they only split storage (10 GB per object). Changing
 * the count re-maps keys (in-flight claims would be forgotten), so it is a constant; the code takes any count.
 */
export const RECEIPT_SHARDS = 1;

export type ReceiptStore = Env["RECEIPTS"];

// One shard needs no hash (the deployed count): every key is shard 0.
export const shardOf = (dedupKey: string, shards = RECEIPT_SHARDS) => (shards === 1 ? 0 : fnv1a(dedupKey) % shards);
const shard = (store: ReceiptStore, i: number) => store.getByName(`receipts:${i}`);

/** A shard that did not answer a claim: its messages wait this long and come back (nothing ran). */
const UNAVAILABLE_RETRY_MS = 5_000;

/** Dedup key: the producer's idempotency key scoped to the target, else the message id. */
export function dedupKeyOf(e: { id: string; to: string; idempotencyKey?: string }): string {
  return e.idempotencyKey ? `idem:${e.to}:${e.idempotencyKey}` : `msg:${e.id}`;
}

/** The key that places an item on a shard: its dedup key, or for an effect's outcome without a claim, its message id. */
const shardKey = (item: { dedupKey: string } | { messageId: string }) => ("dedupKey" in item ? item.dedupKey : `msg:${item.messageId}`);

/** Items grouped by the shard of their key, with their positions in the input. */
function byShard<T extends { dedupKey: string } | { messageId: string }>(items: readonly T[], shards: number): Map<number, { items: T[]; positions: number[] }> {
  const groups = new Map<number, { items: T[]; positions: number[] }>();
  items.forEach((item, position) => {
    const i = shardOf(shardKey(item), shards);
    const group = groups.get(i) ?? { items: [], positions: [] };
    group.items.push(item);
    group.positions.push(position);
    groups.set(i, group);
  });
  return groups;
}

/**
 * Claims every key of a batch: one call per shard touched, in parallel. A shard that fails answers `busy`
 * for its keys (they come back later; nothing ran), so one unavailable shard does not hold up the others.
 */
export async function claimAll(store: ReceiptStore, requests: readonly ClaimRequest[], now = Date.now(), shards = RECEIPT_SHARDS): Promise<ClaimResult[]> {
  const results: ClaimResult[] = new Array(requests.length);
  await Promise.all(
    [...byShard(requests, shards)].map(async ([i, group]) => {
      let claims: ClaimResult[];
      try {
        claims = await shard(store, i).claim(group.items, now);
      } catch (error) {
        log.warn("messages.receipts_unavailable", { shard: i, keys: group.items.length, error });
        claims = group.items.map(() => ({ state: "busy", retryInMs: UNAVAILABLE_RETRY_MS }));
      }
      group.positions.forEach((position, k) => {
        results[position] = claims[k]!;
      });
    }),
  );
  return results;
}

/** Records how effects ended: one call per shard touched, in parallel; throws if any shard failed. */
export async function settleAll(store: ReceiptStore, settlements: readonly Settlement[], now = Date.now(), shards = RECEIPT_SHARDS): Promise<void> {
  await Promise.all([...byShard(settlements, shards)].map(([i, group]) => shard(store, i).settle(group.items, now)));
}

/** What is recorded of messages with these ids (any shard: an idempotency key does not name the message). */
export async function receiptOf(store: ReceiptStore, messageIds: readonly string[], shards = RECEIPT_SHARDS): Promise<Map<string, MessageRecord>> {
  if (messageIds.length === 0) return new Map();
  const found = await Promise.all(Array.from({ length: shards }, (_, i) => shard(store, i).ofMessages([...messageIds])));
  return new Map(found.flat().map((r) => [r.messageId, r]));
}

/** The receipt under one dedup key (tests and inspection). */
export const receiptByKey = (store: ReceiptStore, dedupKey: string, shards = RECEIPT_SHARDS) => shard(store, shardOf(dedupKey, shards)).ofKey(dedupKey);

/** Drops done receipts past the retention window in every shard (for a cron). Returns how many went. */
export async function pruneReceipts(store: ReceiptStore, now = Date.now(), shards = RECEIPT_SHARDS): Promise<number> {
  const counts = await Promise.all(Array.from({ length: shards }, (_, i) => shard(store, i).prune(now)));
  return counts.reduce((a, b) => a + b, 0);
}

/** One shard of receipts: a thin shell over receipt-rows.ts on this object's SQLite storage. */
export class ReceiptShard extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(RECEIPTS_TABLE);
  }

  claim(requests: ClaimRequest[], now: number): ClaimResult[] {
    return claimRows(this.ctx.storage.sql, requests, now);
  }

  settle(settlements: Settlement[], now: number): void {
    settleRows(this.ctx.storage.sql, settlements, now);
  }

  ofMessages(messageIds: string[]): MessageRecord[] {
    return receiptsOfMessages(this.ctx.storage.sql, messageIds);
  }

  ofKey(dedupKey: string): Receipt | undefined {
    return receiptOfKey(this.ctx.storage.sql, dedupKey);
  }

  prune(now: number): number {
    return pruneRows(this.ctx.storage.sql, now);
  }
}
