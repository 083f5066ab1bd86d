import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { QUEUE_NAMES } from "../src/messaging/address";
import { handleQueue } from "../src/messaging/consumer";
import type { Deliver } from "../src/messaging/deliver";
import { type MessageDraft, sealDraft } from "../src/messaging/producer";
import { countingD1 } from "./counting-d1";
import { CLAIM_LEASE_MS, claimAll, dedupKeyOf, pruneReceipts, RECEIPT_RETENTION_MS, settleAll } from "../src/messaging/receipts";

const request = (key: string, messageId = `msg_${key}`) => ({ dedupKey: key, messageId, target: "topic:t" });
const row = (key: string) => env.DB.prepare("SELECT status, attempts, message_id FROM message_receipts WHERE dedup_key = ?").bind(key).first();

describe("message receipts (effect once)", () => {
  it("scopes idempotency keys to the target and falls back to the message id", () => {
    expect(dedupKeyOf({ id: "msg_1", to: "agent:a", idempotencyKey: "k" })).toBe("idem:agent:a:k");
    expect(dedupKeyOf({ id: "msg_1", to: "agent:b", idempotencyKey: "k" })).not.toBe(dedupKeyOf({ id: "msg_2", to: "agent:a", idempotencyKey: "k" }));
    expect(dedupKeyOf({ id: "msg_1", to: "agent:a" })).toBe("msg:msg_1");
  });

  it("a live claim keeps a concurrent duplicate out until its lease ends; a crashed claim is taken over after it", async () => {
    const t0 = 1_000_000;
    const [first] = await claimAll(env.DB, [request("lease")], t0);
    expect(first!.state).toBe("claimed");
    // A duplicate arriving while the first attempt still runs the effect waits for the rest of the lease.
    const [busy] = await claimAll(env.DB, [request("lease")], t0 + 1000);
    expect(busy).toEqual({ state: "busy", retryInMs: CLAIM_LEASE_MS - 1000 });
    // The first attempt died without settling: after the lease the next attempt runs the effect again.
    const [takeover] = await claimAll(env.DB, [request("lease")], t0 + CLAIM_LEASE_MS);
    expect(takeover!.state).toBe("claimed");
    expect(await row("lease")).toMatchObject({ status: "claimed", attempts: 2 });
    // The dead attempt's token can no longer settle the claim; the live one can.
    await settleAll(env.DB, [{ dedupKey: "lease", token: (first as { token: string }).token, outcome: "done" }], t0 + CLAIM_LEASE_MS + 1);
    expect(await row("lease")).toMatchObject({ status: "claimed" });
    await settleAll(env.DB, [{ dedupKey: "lease", token: (takeover as { token: string }).token, outcome: "done" }], t0 + CLAIM_LEASE_MS + 2);
    expect(await row("lease")).toMatchObject({ status: "done" });
    const [after] = await claimAll(env.DB, [request("lease")], t0 + 10 * CLAIM_LEASE_MS);
    expect(after).toEqual({ state: "duplicate" });
  });

  it("a failed claim is reclaimed at once; the same key twice in one batch runs once", async () => {
    const [a] = await claimAll(env.DB, [request("fail")], 5_000);
    await settleAll(env.DB, [{ dedupKey: "fail", token: (a as { token: string }).token, outcome: "failed", error: "x" }], 5_001);
    const [b] = await claimAll(env.DB, [request("fail")], 5_002);
    expect(b!.state).toBe("claimed");
    const pair = await claimAll(env.DB, [request("twice", "msg_a"), request("twice", "msg_b")], 6_000);
    expect(pair.map((p) => p.state)).toEqual(["claimed", "duplicate"]);
  });

  it("claims and settles a full batch of 100 within D1's parameter limit", async () => {
    const requests = Array.from({ length: 100 }, (_, i) => request(`full-${i}`));
    const claims = await claimAll(env.DB, requests, 7_000);
    expect(claims.every((c) => c.state === "claimed")).toBe(true);
    await settleAll(
      env.DB,
      claims.map((c, i) => {
        const key = { dedupKey: `full-${i}`, token: (c as { token: string }).token };
        return i % 3 === 0 ? { ...key, outcome: "done" as const } : i % 3 === 1 ? { ...key, outcome: "released" as const } : { ...key, outcome: "failed" as const, error: `e${i}` };
      }),
      7_001,
    );
    const counts = await env.DB.prepare(
      "SELECT status, attempts, count(*) AS n FROM message_receipts WHERE dedup_key LIKE 'full-%' GROUP BY status, attempts ORDER BY status, attempts",
    ).all();
    expect(counts.results).toEqual([
      { status: "done", attempts: 1, n: 34 },
      { status: "failed", attempts: 0, n: 33 },
      { status: "failed", attempts: 1, n: 33 },
    ]);
    // Fresh claims, takeovers of failed ones and duplicates of done ones: one round trip, two statements.
    const counted = countingD1(env.DB);
    const again = await claimAll(counted.db, requests, 7_002);
    expect(counted.trips).toEqual([{ batch: 2 }]);
    expect(again.filter((c) => c.state === "duplicate")).toHaveLength(34);
    expect(again.filter((c) => c.state === "claimed")).toHaveLength(66);
    const taken = await env.DB.prepare(
      "SELECT attempts, count(*) AS n FROM message_receipts WHERE dedup_key LIKE 'full-%' AND status = 'claimed' GROUP BY attempts ORDER BY attempts",
    ).all();
    expect(taken.results).toEqual([
      { attempts: 1, n: 33 },
      { attempts: 2, n: 33 },
    ]);
  });

  it("prunes only done receipts past the retention window", async () => {
    const now = 50 * RECEIPT_RETENTION_MS;
    const old = now - RECEIPT_RETENTION_MS - 1;
    for (const key of ["old-done", "old-failed", "new-done"]) {
      const [c] = await claimAll(env.DB, [request(key)], key.startsWith("old") ? old : now);
      const token = (c as { token: string }).token;
      const at = key.startsWith("old") ? old : now;
      await settleAll(env.DB, [key.endsWith("done") ? { dedupKey: key, token, outcome: "done" } : { dedupKey: key, token, outcome: "failed", error: "e" }], at);
    }
    expect(await pruneReceipts(env.DB, now)).toBeGreaterThanOrEqual(1);
    expect(await row("old-done")).toBeNull();
    expect(await row("old-failed")).not.toBeNull();
    expect(await row("new-done")).not.toBeNull();
    expect(await pruneReceipts(env.DB, now)).toBe(0);
  });
});

describe("consumer round trips", () => {
  it("a batch with deliveries, a refusal and a rejected effect costs two D1 round trips: claims, then settlements with dead letters", async () => {
    const draft = (n: number): MessageDraft => ({
      to: { subscription: "sub_roundtrips" },
      priority: 5,
      payload: { topic: "t", event: { id: `evt_rt_${n}`, type: "t.x", data: { n }, time: new Date().toISOString() } },
      actor: "test",
    });
    const envelopes = await Promise.all([1, 2, 3, 4].map((n) => sealDraft(env, draft(n))));
    const rejected = envelopes[3]!.id;
    const deliver: Deliver = async (_env, d) => (d.envelope.id === rejected ? { ok: false, retry: false, error: "refused by target" } : { ok: true });
    const bodies = [...envelopes.map((envelope) => ({ v: 1, envelope, deferrals: 0 })), { not: "ours" }];
    const batch = createMessageBatch(
      QUEUE_NAMES.normal,
      bodies.map((body, i) => ({ id: `rt${i}`, timestamp: new Date(), attempts: 1, body })),
    );
    const counted = countingD1(env.DB);
    const ctx = createExecutionContext();
    await handleQueue(batch, { ...env, DB: counted.db }, ctx, deliver);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toHaveLength(5);
    // Claims: insert + read back. Then one batch: the done settlement, the failed one, and two dead letters.
    expect(counted.trips).toEqual([{ batch: 2 }, { batch: 4 }]);
    const dead = await env.DB.prepare("SELECT id, reason FROM dead_letters WHERE id IN (?1, 'qm_rt4') ORDER BY reason").bind(rejected).all();
    expect(dead.results.map((r) => r.reason)).toEqual(["malformed", "rejected"]);
  });
});
