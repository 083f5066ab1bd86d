import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { QUEUE_NAMES } from "../src/messaging/address";
import { handleQueue } from "../src/messaging/consumer";
import type { Deliver } from "../src/messaging/deliver";
import { type MessageDraft, sealDraft } from "../src/messaging/producer";
import { countingD1 } from "./counting-d1";
import { CLAIM_LEASE_MS, claimAll, dedupKeyOf, pruneReceipts, RECEIPT_RETENTION_MS, RECEIPT_SHARDS, receiptByKey, receiptOf, settleAll, shardOf } from "../src/messaging/receipts";
import { pruneRows } from "../src/messaging/receipt-rows";
import { inEveryShard, receiptRow as row, watchedReceipts } from "./receipt-helpers";

const request = (key: string, messageId = `msg_${key}`) => ({ dedupKey: key, messageId, target: "topic:t" });
const store = env.RECEIPTS;

describe("message receipts (effect once)", () => {
  it("scopes idempotency keys to the target and falls back to the message id", () => {
    expect(dedupKeyOf({ id: "msg_1", to: "agent:a", idempotencyKey: "k" })).toBe("idem:agent:a:k");
    expect(dedupKeyOf({ id: "msg_1", to: "agent:b", idempotencyKey: "k" })).not.toBe(dedupKeyOf({ id: "msg_2", to: "agent:a", idempotencyKey: "k" }));
    expect(dedupKeyOf({ id: "msg_1", to: "agent:a" })).toBe("msg:msg_1");
  });

  it("a live claim keeps a concurrent duplicate out until its lease ends; a crashed claim is taken over after it", async () => {
    const t0 = 1_000_000;
    const [first] = await claimAll(store, [request("lease")], t0);
    expect(first!.state).toBe("claimed");
    // A duplicate arriving while the first attempt still runs the effect waits for the rest of the lease.
    const [busy] = await claimAll(store, [request("lease")], t0 + 1000);
    expect(busy).toEqual({ state: "busy", retryInMs: CLAIM_LEASE_MS - 1000 });
    // The first attempt died without settling: after the lease the next attempt runs the effect again.
    const [takeover] = await claimAll(store, [request("lease")], t0 + CLAIM_LEASE_MS);
    expect(takeover!.state).toBe("claimed");
    expect(await row("lease")).toMatchObject({ status: "claimed", attempts: 2 });
    // The dead attempt's token can no longer settle the claim; the live one can.
    await settleAll(store, [{ dedupKey: "lease", token: (first as { token: string }).token, outcome: "done" }], t0 + CLAIM_LEASE_MS + 1);
    expect(await row("lease")).toMatchObject({ status: "claimed" });
    await settleAll(store, [{ dedupKey: "lease", token: (takeover as { token: string }).token, outcome: "done" }], t0 + CLAIM_LEASE_MS + 2);
    expect(await row("lease")).toMatchObject({ status: "done" });
    const [after] = await claimAll(store, [request("lease")], t0 + 10 * CLAIM_LEASE_MS);
    expect(after).toEqual({ state: "duplicate" });
  });

  it("a failed claim is reclaimed at once; the same key twice in one batch runs once", async () => {
    const [a] = await claimAll(store, [request("fail")], 5_000);
    await settleAll(store, [{ dedupKey: "fail", token: (a as { token: string }).token, outcome: "failed", error: "x" }], 5_001);
    const [b] = await claimAll(store, [request("fail")], 5_002);
    expect(b!.state).toBe("claimed");
    const pair = await claimAll(store, [request("twice", "msg_a"), request("twice", "msg_b")], 6_000);
    expect(pair.map((p) => p.state)).toEqual(["claimed", "duplicate"]);
  });

  // The deployed count (one), and more shards, as the code allows for.
  for (const shards of [RECEIPT_SHARDS, 4]) {
    it(`claims and settles a full batch of 100 with one call per shard each (${shards} shard${shards > 1 ? "s" : ""})`, async () => {
      const prefix = `full${shards}-`;
      const requests = Array.from({ length: 100 }, (_, i) => request(`${prefix}${i}`));
      const claims = await claimAll(store, requests, 7_000, shards);
      expect(claims.every((c) => c.state === "claimed")).toBe(true);
      const watched = watchedReceipts();
      await settleAll(
        watched.store,
        claims.map((c, i) => {
          const key = { dedupKey: `${prefix}${i}`, token: (c as { token: string }).token };
          return i % 3 === 0
            ? { ...key, outcome: "done" as const }
            : i % 3 === 1
              ? { ...key, outcome: "released" as const }
              : { ...key, outcome: "failed" as const, error: `e${i}` };
        }),
        7_001,
        shards,
      );
      expect(watched.calls).toHaveLength(shards);
      const counts = await inEveryShard(shards, `SELECT status, attempts, count(*) AS n FROM receipts WHERE dedup_key LIKE '${prefix}%' GROUP BY status, attempts`);
      const total = (status: string, attempts: number) => counts.filter((c) => c.status === status && c.attempts === attempts).reduce((n, c) => n + Number(c.n), 0);
      expect({ done: total("done", 1), released: total("failed", 0), failed: total("failed", 1) }).toEqual({ done: 34, released: 33, failed: 33 });
      // Fresh claims, takeovers of failed ones and duplicates of done ones: one call per shard.
      const again = watchedReceipts();
      const second = await claimAll(again.store, requests, 7_002, shards);
      expect(again.calls.map((c) => c.method)).toEqual(Array(shards).fill("claim"));
      expect(second.filter((c) => c.state === "duplicate")).toHaveLength(34);
      expect(second.filter((c) => c.state === "claimed")).toHaveLength(66);
      const taken = await inEveryShard(shards, `SELECT attempts, count(*) AS n FROM receipts WHERE dedup_key LIKE '${prefix}%' AND status = 'claimed' GROUP BY attempts`);
      const claimedWith = (attempts: number) => taken.filter((t) => t.attempts === attempts).reduce((n, t) => n + Number(t.n), 0);
      expect({ fresh: claimedWith(1), takenOver: claimedWith(2) }).toEqual({ fresh: 33, takenOver: 33 });
    });
  }

  it("a shard that does not answer a claim leaves its keys busy for later; the other shards' keys are claimed", async () => {
    const shards = 4;
    // Two keys on different shards.
    const keys = Array.from({ length: 40 }, (_, i) => `split-${i}`);
    const a = keys[0]!;
    const b = keys.find((k) => shardOf(k, shards) !== shardOf(a, shards))!;
    const watched = watchedReceipts(env.RECEIPTS, ["claim"], 1);
    const results = await claimAll(watched.store, [request(a), request(b)], 8_000, shards);
    expect(watched.failed).toHaveLength(1);
    const failedFirst = results[0]!.state === "busy";
    expect(results.map((r) => r.state).sort()).toEqual(["busy", "claimed"]);
    // Nothing was written for the key whose shard failed; a later claim takes it.
    expect(await receiptByKey(store, failedFirst ? a : b, shards)).toBeUndefined();
    const [later] = await claimAll(store, [request(failedFirst ? a : b)], 8_001, shards);
    expect(later!.state).toBe("claimed");
  });

  it("finds a message's receipt whatever shard its dedup key is on", async () => {
    for (const shards of [RECEIPT_SHARDS, 4]) {
      const key = `idem:agent:x:key-${shards}`;
      const [c] = await claimAll(store, [{ dedupKey: key, messageId: `msg_found${shards}`, target: "agent:x" }], 9_000, shards);
      await settleAll(store, [{ dedupKey: key, token: (c as { token: string }).token, outcome: "failed", error: "boom" }], 9_001, shards);
      const found = await receiptOf(store, [`msg_found${shards}`, "msg_absent"], shards);
      expect([...found.keys()]).toEqual([`msg_found${shards}`]);
      expect(found.get(`msg_found${shards}`)).toMatchObject({ status: "failed", attempts: 1, firstError: "boom", lastError: "boom", target: "agent:x" });
    }
  });

  it("records an effect that took no claim under its message id: failures count attempts, done is final, each copy has its own", async () => {
    const unclaimed = (messageId: string) => ({ messageId, target: "topic:t", token: null });
    const record = async (id: string) => (await receiptOf(store, [id])).get(id) ?? null;
    await settleAll(store, [{ ...unclaimed("msg_u1"), outcome: "failed", error: "first" }], 10_000);
    expect(await record("msg_u1")).toMatchObject({ status: "failed", attempts: 1, firstError: "first", lastError: "first", target: "topic:t", doneAt: null });
    await settleAll(store, [{ ...unclaimed("msg_u1"), outcome: "failed", error: "second" }], 10_001);
    await settleAll(store, [{ ...unclaimed("msg_u1"), outcome: "done" }], 10_002);
    expect(await record("msg_u1")).toEqual({
      messageId: "msg_u1",
      target: "topic:t",
      status: "done",
      attempts: 3,
      firstError: "first",
      lastError: "second",
      doneAt: 10_002,
      updatedAt: 10_002,
    });
    // A redelivered copy of a done message changes nothing.
    await settleAll(store, [{ ...unclaimed("msg_u1"), outcome: "failed", error: "late" }], 10_003);
    expect(await record("msg_u1")).toMatchObject({ status: "done", attempts: 3, lastError: "second" });
    // Another message sent under the same idempotency key fanned out too (its deliveries dedupe downstream): its own record.
    await settleAll(store, [{ ...unclaimed("msg_u2"), outcome: "done" }], 10_004);
    expect(await record("msg_u2")).toMatchObject({ status: "done", attempts: 1, doneAt: 10_004 });
    // Released without a claim: nothing was held, nothing is written.
    await settleAll(store, [{ ...unclaimed("msg_u3"), outcome: "released" }], 10_005);
    expect(await record("msg_u3")).toBeNull();
    // Outcomes never touch receipts: a claim held under a key stays its holder's.
    const [held] = await claimAll(store, [request("open-3", "msg_u4")], 10_006);
    await settleAll(store, [{ ...unclaimed("msg_u4"), outcome: "done" }], 10_007);
    expect(await row("open-3")).toMatchObject({ status: "claimed", claimToken: (held as { token: string }).token });
  });

  it("prunes the outcomes of messages sent before the retention window, by the time their ids begin with", async () => {
    const now = 70 * RECEIPT_RETENTION_MS;
    const idAt = (ms: number, tail: string) => `msg_${ms.toString(16).padStart(12, "0")}${tail}`;
    const old = idAt(now - RECEIPT_RETENTION_MS - 1, "00000000aa000000");
    const kept = idAt(now - RECEIPT_RETENTION_MS + 1, "00000000ab000000");
    await settleAll(
      store,
      [old, kept].map((messageId) => ({ messageId, target: "topic:t", token: null, outcome: "done" as const })),
      now,
    );
    const prune = (limit: number) => runInDurableObject(store.getByName("receipts:0"), (_instance, state) => pruneRows(state.storage.sql, now, limit));
    expect(await prune(1_000_000)).toBeGreaterThanOrEqual(1);
    expect([...(await receiptOf(store, [old, kept])).keys()]).toEqual([kept]);
  });

  it("prunes only done receipts past the retention window", async () => {
    const now = 50 * RECEIPT_RETENTION_MS;
    const old = now - RECEIPT_RETENTION_MS - 1;
    for (const key of ["old-done", "old-failed", "new-done"]) {
      const [c] = await claimAll(store, [request(key)], key.startsWith("old") ? old : now);
      const token = (c as { token: string }).token;
      const at = key.startsWith("old") ? old : now;
      await settleAll(store, [key.endsWith("done") ? { dedupKey: key, token, outcome: "done" } : { dedupKey: key, token, outcome: "failed", error: "e" }], at);
    }
    expect(await pruneReceipts(store, now)).toBeGreaterThanOrEqual(1);
    expect(await row("old-done")).toBeNull();
    expect(await row("old-failed")).not.toBeNull();
    expect(await row("new-done")).not.toBeNull();
    expect(await pruneReceipts(store, now)).toBe(0);
  });

  it("prunes at most a bounded number per call, oldest first; the next call takes the rest", async () => {
    const now = 60 * RECEIPT_RETENTION_MS;
    const keys = ["bound-a", "bound-b", "bound-c"];
    for (const [i, key] of keys.entries()) {
      const at = now - RECEIPT_RETENTION_MS - 10 + i;
      const [c] = await claimAll(store, [request(key)], at);
      await settleAll(store, [{ dedupKey: key, token: (c as { token: string }).token, outcome: "done" }], at);
    }
    const prune = (at: number, limit: number) => runInDurableObject(store.getByName("receipts:0"), (_instance, state) => pruneRows(state.storage.sql, at, limit));
    // Older done receipts of other tests go first: clear everything older than these three.
    await prune(now - 10, 1_000_000);
    const pruneAtMostTwo = () => prune(now, 2);
    expect(await pruneAtMostTwo()).toBe(2);
    expect([await row("bound-a"), await row("bound-b"), await row("bound-c")].map((r) => r !== null)).toEqual([false, false, true]);
    expect(await pruneAtMostTwo()).toBe(1);
    expect(await pruneAtMostTwo()).toBe(0);
  });
});

describe("consumer round trips", () => {
  it("a batch with deliveries, a refusal and a rejected effect costs one call per receipt shard to claim and to settle, and one D1 write for its dead letters", async () => {
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
    const watched = watchedReceipts();
    const ctx = createExecutionContext();
    await handleQueue(batch, { ...env, DB: counted.db, RECEIPTS: watched.store }, ctx, deliver);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toHaveLength(5);
    const shards = new Set(envelopes.map((e) => shardOf(dedupKeyOf(e)))).size;
    const calls = (method: string) => watched.calls.filter((c) => c.method === method).length;
    expect({ claim: calls("claim"), settle: calls("settle") }).toEqual({ claim: shards, settle: shards });
    // D1 takes one write: the dead letters (the rejected message and the malformed body), in one batch. Its only
    // reads are the dead-letter alerts' subscriber lookups (the per-isolate subscription cache, cold here).
    expect(counted.trips.filter((t) => !/^select\b/i.test(t.single ?? ""))).toEqual([{ batch: 2 }]);
    expect(counted.trips.every((t) => t.batch !== undefined || /subscription/.test(t.single ?? ""))).toBe(true);
    const dead = await env.DB.prepare("SELECT id, reason FROM dead_letters WHERE id IN (?1, 'qm_rt4') ORDER BY reason").bind(rejected).all();
    expect(dead.results.map((r) => r.reason)).toEqual(["malformed", "rejected"]);
  });

  it("in a mixed batch only the effects that need a claim are claimed; every outcome is recorded in one settle call", async () => {
    const topic = (n: number): MessageDraft => ({ to: { topic: "mixed" }, priority: 5, payload: { type: "t.x", data: { n } }, actor: "t" });
    const delivery = (n: number): MessageDraft => ({
      to: { subscription: "sub_mixed" },
      priority: 5,
      payload: { topic: "mixed", event: { id: `m${n}`, type: "t", data: n, time: "" } },
      actor: "t",
    });
    const envelopes = await Promise.all([topic(1), delivery(2), topic(3), delivery(4)].map((d) => sealDraft(env, d)));
    const batch = createMessageBatch(
      QUEUE_NAMES.normal,
      envelopes.map((envelope, i) => ({ id: `mx${i}`, timestamp: new Date(), attempts: 1, body: { v: 1, envelope, deferrals: 0 } })),
    );
    const watched = watchedReceipts();
    const ctx = createExecutionContext();
    await handleQueue(batch, { ...env, RECEIPTS: watched.store }, ctx, async () => ({ ok: true }));
    expect((await getQueueResult(batch, ctx)).explicitAcks).toHaveLength(4);
    const claimed = watched.calls.filter((c) => c.method === "claim").flatMap((c) => (c.args[0] as { dedupKey: string }[]).map((r) => r.dedupKey));
    expect(claimed.sort()).toEqual([dedupKeyOf(envelopes[1]!), dedupKeyOf(envelopes[3]!)].sort());
    expect(watched.calls.map((c) => c.method)).toEqual(["claim", "settle"]);
    const records = await receiptOf(
      env.RECEIPTS,
      envelopes.map((e) => e.id),
    );
    for (const e of envelopes) expect(records.get(e.id)).toMatchObject({ status: "done", messageId: e.id, attempts: 1 });
    // Claims hold receipts under their dedup keys; the topic messages' outcomes are kept by message id alone.
    expect(await row(dedupKeyOf(envelopes[1]!))).toMatchObject({ status: "done" });
    expect(await row(dedupKeyOf(envelopes[0]!))).toBeNull();
  });

  it("a batch with only deliveries touches no D1 at all", async () => {
    const envelopes = await Promise.all(
      [1, 2, 3].map((n) =>
        sealDraft(env, { to: { subscription: "sub_nod1" }, priority: 5, payload: { topic: "t", event: { id: `e${n}`, type: "t", data: n, time: "" } }, actor: "t" }),
      ),
    );
    const batch = createMessageBatch(
      QUEUE_NAMES.normal,
      envelopes.map((envelope, i) => ({ id: `nd${i}`, timestamp: new Date(), attempts: 1, body: { v: 1, envelope, deferrals: 0 } })),
    );
    const counted = countingD1(env.DB);
    const ctx = createExecutionContext();
    await handleQueue(batch, { ...env, DB: counted.db }, ctx, async () => ({ ok: true }));
    expect((await getQueueResult(batch, ctx)).explicitAcks).toHaveLength(3);
    expect(counted.trips).toEqual([]);
    for (const e of envelopes) expect(await row(dedupKeyOf(e))).toMatchObject({ status: "done", messageId: e.id });
  });
});
